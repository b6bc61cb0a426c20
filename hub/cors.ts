/**
 * CORS for the HTTP routes (views, online counts, health, metrics, ingest), so
 * browser apps served from another origin can call them. The allow-list is the
 * WebSocket's (`HUB_ALLOWED_ORIGINS`); unset, any origin is allowed. The answer
 * always names the request's own origin, never `*`, so one rule serves both cases.
 * No credentials: the routes take bearer tokens, never cookies.
 */
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';

const ALLOW_METHODS = 'GET, POST, OPTIONS';
/** What the routes read: the bearer token and the ingest body's type. */
const ALLOW_HEADERS = 'authorization, content-type';
/** Chromium caps a preflight's cache at 2 h; the allow-list only changes with a restart. */
const MAX_AGE_SECONDS = '7200';

/**
 * The origin a response may be read from: the request's `Origin` when it is allowed,
 * undefined when it is not or when there is none (not a cross-origin browser request).
 */
export function corsOrigin(allowedOrigins: readonly string[], origin: string): string | undefined {
  if (origin === '') return undefined;
  return allowedOrigins.length === 0 || allowedOrigins.includes(origin) ? origin : undefined;
}

/** Whether a connection from this `Origin` is accepted (WebSocket and Socket.IO): none sent (not a browser), or an allowed one. */
export function originAllowed(allowedOrigins: readonly string[], origin: string): boolean {
  return origin === '' || corsOrigin(allowedOrigins, origin) !== undefined;
}

/** Writes a response's CORS headers; between the status line and the body. */
export function writeCorsHeaders(res: HttpResponse, allowOrigin: string | undefined): void {
  // The answer depends on Origin even when it carries no CORS header: shared caches must key on it.
  res.writeHeader('vary', 'Origin');
  if (allowOrigin !== undefined) res.writeHeader('access-control-allow-origin', allowOrigin);
}

/** Answers the preflight (`OPTIONS`) of every route: 204 for an allowed origin, 403 without CORS headers otherwise. */
export function mountPreflight(app: TemplatedApp, allowedOrigins: readonly string[]): void {
  app.options('/*', (res, req) => {
    const origin = req.getHeader('origin');
    const allowed = corsOrigin(allowedOrigins, origin);
    res.cork(() => {
      if (allowed === undefined && origin !== '') {
        res.writeStatus('403 Forbidden');
        writeCorsHeaders(res, undefined);
        res.endWithoutBody(0);
        return;
      }
      res.writeStatus('204 No Content');
      writeCorsHeaders(res, allowed);
      res.writeHeader('access-control-allow-methods', ALLOW_METHODS).writeHeader('access-control-allow-headers', ALLOW_HEADERS).writeHeader('access-control-max-age', MAX_AGE_SECONDS);
      res.endWithoutBody(0);
    });
  });
}
