/**
 * Rate limits of the HTTP API: every `/api/*` route (ingest, views, exports,
 * schema, online counts; not `/healthz` or `/metrics`, which monitoring polls)
 * takes a token from the client address's bucket and, when the request carries
 * a token the hub has verified before, from that user's bucket; the service
 * token has a bucket of its own instead of the address's (a producer posting
 * events from one machine). Over a limit: 429 with `Retry-After` (whole seconds)
 * and `{error, code: 300 (LimitExceeded), retryAfter}`.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { ErrorCode } from '../protocol/errors.ts';
import { bearerToken } from './bearer-token.ts';
import type { HttpLimits } from './config.ts';
import { beginExchange, type Exchange, writeHead } from './http-io.ts';
import { RateLimiter } from './rate-limiter.ts';
import { ServiceToken } from './service-token.ts';
import type { VerifiedTokens } from './verified-tokens.ts';

/** Why a request is refused, and when to come back. */
export interface Refusal {
  readonly retryAfterMs: number;
  readonly message: string;
}

export class HttpRateLimits {
  readonly #perToken: RateLimiter | undefined;
  readonly #perAddress: RateLimiter | undefined;
  readonly #service: RateLimiter | undefined;
  readonly #serviceToken: ServiceToken;
  readonly #tokens: VerifiedTokens;

  constructor(limits: HttpLimits, serviceToken: string | undefined, tokens: VerifiedTokens) {
    const limiter = (l: { rate: number; burst: number }) => (l.rate === 0 ? undefined : new RateLimiter(l.rate, l.burst));
    this.#perToken = limiter(limits.perToken);
    this.#perAddress = limiter(limits.perAddress);
    this.#service = limiter(limits.service);
    this.#serviceToken = new ServiceToken(serviceToken);
    this.#tokens = tokens;
  }

  /** Charges one request; undefined when it may go on. */
  admit(address: string, authorization: string, now = Date.now()): Refusal | undefined {
    const token = bearerToken(authorization) ?? '';
    if (token !== '' && this.#serviceToken.matches(token)) {
      const wait = this.#service?.wait('service', now) ?? 0;
      return wait === 0 ? undefined : { retryAfterMs: wait, message: 'too many requests with the service token' };
    }
    const addressWait = this.#perAddress?.wait(address, now) ?? 0;
    if (addressWait > 0) return { retryAfterMs: addressWait, message: 'too many requests from your address' };
    if (token === '' || this.#perToken === undefined) return undefined;
    const user = this.#tokens.userOf(token, now);
    const userWait = user === undefined ? 0 : this.#perToken.wait(user, now);
    return userWait === 0 ? undefined : { retryAfterMs: userWait, message: 'too many requests for your token' };
  }
}

/** HTTP methods of uWS apps that mount a route. */
const ROUTE_METHODS: ReadonlySet<PropertyKey> = new Set(['get', 'post', 'put', 'patch', 'del', 'head', 'any']);

/**
 * The app as route mounters see it, with every `/api/*` route behind the limits:
 * `mountViewsApi(rateLimited(app, …), …)` needs no change in the routes themselves,
 * and routes mounted later (exports) are covered by mounting them the same way.
 */
export function rateLimited(app: TemplatedApp, limits: HttpRateLimits, allowedOrigins: readonly string[]): TemplatedApp {
  const guard =
    (handler: (res: HttpResponse, req: HttpRequest) => void) =>
    (res: HttpResponse, req: HttpRequest): void => {
      const refusal = limits.admit(Buffer.from(res.getRemoteAddressAsText()).toString(), req.getHeader('authorization'));
      if (refusal === undefined) return handler(res, req);
      sendTooManyRequests(res, beginExchange(res, req, allowedOrigins), refusal);
    };
  const limited: TemplatedApp = new Proxy(app, {
    get(target, property) {
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function') return value;
      if (ROUTE_METHODS.has(property)) {
        return (pattern: string, handler: (res: HttpResponse, req: HttpRequest) => void) => {
          value.call(target, pattern, pattern.startsWith('/api/') ? guard(handler) : handler);
          return limited;
        };
      }
      // Chained calls (`app.options(...).get(...)`) must come back to the proxy (as socketio-face.ts's does).
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result === target ? limited : result;
      };
    },
  });
  return limited;
}

/** Answers 429 with `Retry-After` in whole seconds (at least 1) and the registry's LimitExceeded code. */
export function sendTooManyRequests(res: HttpResponse, exchange: Exchange, refusal: Refusal): void {
  if (exchange.aborted) return;
  const retryAfter = Math.max(1, Math.ceil(refusal.retryAfterMs / 1000));
  const body = JSON.stringify({ error: `${refusal.message}: retry after ${retryAfter} s`, code: ErrorCode.LimitExceeded, retryAfter });
  res.cork(() => writeHead(res, 429, 'application/json', exchange).writeHeader('retry-after', String(retryAfter)).end(body));
}
