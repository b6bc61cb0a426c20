/**
 * HTTP routes beside the socket: health, online counts, and event ingest for
 * producers that are not Node (`POST /api/events` with the service token).
 * Every route, the views' too, answers CORS preflights (cors.ts).
 */
import { randomUUID } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { InvalidEventError } from '../protocol/errors.ts';
import { type AppendRequest, buildAppend } from '../protocol/event-append.ts';
import { appendToLog } from '../protocol/log-append.ts';
import type { HubConfig } from './config.ts';
import { mountPreflight } from './cors.ts';
import { bearerToken } from './bearer-token.ts';
import { beginExchange, BodyTooLargeError, type Exchange, readBody, sendJson, writeHead } from './http-io.ts';
import { ServiceToken } from './service-token.ts';
import type { Logger } from './logger.ts';
import type { HubMetrics } from './metrics.ts';
import type { PresenceTracker } from './presence-tracker.ts';

/** What the routes need from the running hub; NATS parts are absent until connected. */
export interface HttpApiDeps {
  readonly config: HubConfig;
  readonly log: Logger;
  readonly metrics: HubMetrics;
  readonly presence: PresenceTracker;
  readonly uws: 'native' | 'fallback';
  js(): JetStreamClient | undefined;
  natsConnected(): boolean;
  /** Sets the gauges read at scrape time (NATS state, consumer lag, users). */
  collectMetrics(): Promise<void>;
  jetStreamReachable(): Promise<boolean>;
  /** Connected, streams in place, delivering: what /healthz's 200 means. */
  ready(): boolean;
  /** What the start still awaits (`{step: what}`); empty once everything has started. */
  waitingFor(): Record<string, string>;
}

export function mountHttpApi(app: TemplatedApp, deps: HttpApiDeps): void {
  const serviceToken = new ServiceToken(deps.config.serviceToken);
  const { allowedOrigins } = deps.config;
  mountPreflight(app, allowedOrigins);

  // 200 once the hub serves sockets. While it starts: 503, `status: "starting"` and `waitingFor` saying what
  // it waits for. `waitingFor` may still name the views' database after the 200: sockets never wait for it.
  app.get('/healthz', (res, req) => {
    const state = beginExchange(res, req, allowedOrigins);
    void (async () => {
      const waitingFor = deps.waitingFor();
      const base = { uws: deps.uws, namespace: deps.config.namespace, waitingFor };
      if (!deps.ready()) return sendJson(res, 503, { status: 'starting', ...base, nats: { connected: deps.natsConnected() } }, state);
      const nats = deps.natsConnected();
      const jetstream = nats && (await deps.jetStreamReachable());
      const ok = nats && jetstream;
      sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', ...base, nats: { connected: nats }, jetstream: { reachable: jetstream } }, state);
    })();
  });

  app.get('/api/stats/online', (res, req) => {
    const state = beginExchange(res, req, allowedOrigins);
    void deps.presence.clusterStats().then((stats) => sendJson(res, 200, stats, state));
  });

  app.get('/metrics', (res, req) => {
    const state = beginExchange(res, req, allowedOrigins);
    void deps
      .collectMetrics()
      .catch((e: Error) => deps.log.warn({ err: e.message }, 'metrics collection incomplete'))
      .then(() => deps.metrics.registry.metrics())
      .then((text) => {
      if (state.aborted) return;
      res.cork(() => writeHead(res, 200, deps.metrics.registry.contentType, state).end(text));
    });
  });

  app.post('/api/events', (res, req) => {
    const authorization = req.getHeader('authorization');
    const contentType = req.getHeader('content-type');
    const state = beginExchange(res, req, allowedOrigins);
    void ingest(res, authorization, contentType, state, deps, serviceToken);
  });

  app.any('/*', (res, req) => sendJson(res, 404, { error: 'not found' }, beginExchange(res, req, allowedOrigins)));
}

async function ingest(res: HttpResponse, authorization: string, contentType: string, state: Exchange, deps: HttpApiDeps, serviceToken: ServiceToken): Promise<void> {
  const reply = (status: number, body: unknown) => sendJson(res, status, body, state);
  if (!serviceToken.configured) return reply(503, { error: 'ingest is disabled: set HUB_SERVICE_TOKEN' });
  if (!serviceToken.matches(bearerToken(authorization))) return reply(401, { error: 'missing or wrong service token' });
  if (!/^application\/json\b/i.test(contentType)) return reply(415, { error: 'content-type must be application/json' });
  let body: Buffer;
  try {
    body = await readBody(res, deps.config.maxIngestBytes);
  } catch (e) {
    if (e instanceof BodyTooLargeError) return reply(413, { error: e.message });
    throw e;
  }
  let request: AppendRequest & { msgId?: unknown };
  try {
    request = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return reply(400, { error: `body is not JSON: ${(e as Error).message}` });
  }
  const msgId = request?.msgId;
  if (msgId !== undefined && (typeof msgId !== 'string' || msgId.length === 0 || msgId.length > 128)) return reply(422, { error: 'msgId must be a string of 1 to 128 characters' });
  let append;
  try {
    append = buildAppend(deps.config.namespace, request);
  } catch (e) {
    if (e instanceof InvalidEventError) return reply(422, { error: e.message });
    throw e;
  }
  const js = deps.js();
  if (js === undefined) return reply(503, { error: 'NATS is not connected yet; retry' });
  try {
    const ack = await appendToLog(js, append, msgId ?? randomUUID());
    reply(201, { offset: ack.seq, stream: append.stream, duplicate: ack.duplicate });
  } catch (e) {
    deps.log.warn({ err: (e as Error).message, subject: append.subject }, 'ingest append failed');
    reply(503, { error: `append failed: ${(e as Error).message}; retry with the same msgId` });
  }
}

