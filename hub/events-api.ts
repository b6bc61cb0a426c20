/**
 * `GET /api/events/:stream` (`site`, `user`, `global`): a log's events for
 * analytics, filtered (`sites`, `users`, `events`, `from`, `to`, `limit`), as
 * NDJSON, CSV or Parquet (`format`), or followed live (`follow=1`, NDJSON).
 * Bearer: the service token, or a JWT (see export-access.ts for who sees what).
 */
import type { TemplatedApp } from 'uWebSockets.js';
import { STREAM_KEYS, type StreamKey } from '../protocol/subjects.ts';
import { type Authenticator, AuthError } from './authenticator.ts';
import { bearerToken } from './bearer-token.ts';
import type { ExportCaller } from './export-access.ts';
import { type ExportParam, ExportQueryError, parseExportQuery } from './export-query.ts';
import { type EventsExportDeps, serveEventsExport } from './events-export.ts';
import { beginExchange, sendJson } from './http-io.ts';
import { ServiceToken } from './service-token.ts';

export interface EventsApiDeps extends EventsExportDeps {
  readonly auth: Authenticator;
}

const PARAMS: Record<StreamKey, readonly ExportParam[]> = {
  site: ['sites', 'events', 'from', 'to', 'limit', 'format', 'follow'],
  user: ['users', 'events', 'from', 'to', 'limit', 'format', 'follow'],
  global: ['events', 'from', 'to', 'limit', 'format', 'follow'],
};

export function mountEventsApi(app: TemplatedApp, deps: EventsApiDeps): void {
  const serviceToken = new ServiceToken(deps.config.serviceToken);
  app.get('/api/events/:stream', (res, req) => {
    const exchange = beginExchange(res, req, deps.config.allowedOrigins);
    const rawStream = req.getParameter(0) ?? '';
    const authorization = req.getHeader('authorization');
    const query = req.getQuery() ?? '';
    void (async () => {
      const presented = bearerToken(authorization);
      let caller: ExportCaller;
      if (serviceToken.matches(presented)) caller = { service: true };
      else {
        try {
          caller = { service: false, grant: await deps.auth.verify(presented) };
        } catch (e) {
          return sendJson(res, 401, { error: `unauthorized: ${e instanceof AuthError ? e.message : 'token check failed'}` }, exchange);
        }
      }
      if (!(STREAM_KEYS as readonly string[]).includes(rawStream)) return sendJson(res, 404, { error: `no stream ${JSON.stringify(rawStream)}: /api/events/ takes ${STREAM_KEYS.join(', ')}` }, exchange);
      const stream = rawStream as StreamKey;
      let parsed;
      try {
        parsed = parseExportQuery(query, PARAMS[stream]);
      } catch (e) {
        if (e instanceof ExportQueryError) return sendJson(res, 400, { error: e.message }, exchange);
        throw e;
      }
      await serveEventsExport(res, exchange, deps, caller, stream, parsed);
    })().catch((e: Error) => {
      deps.log.warn({ err: e.message }, 'events export failed');
      sendJson(res, 503, { error: `export failed: ${e.message}` }, exchange);
    });
  });
}
