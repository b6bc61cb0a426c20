/**
 * The views over HTTP, with the socket's site rules (a bearer JWT, its `sites`):
 * - `GET /api/sites`: the granted sites the dashboard knows;
 * - `GET /api/sites/:id/dashboard` and `/inventory`: snapshots that carry the
 *   `offset` they reflect and the site stream's `epoch`, so a client can resume
 *   the site's events from exactly there (`subscribe:site {siteId, offset, epoch}`);
 * - `GET /api/sites/:id/events`: the site's events, as `GET /api/events/site?sites=:id`
 *   serves them (events-api.ts): filtered, NDJSON, CSV or Parquet, streamed with
 *   backpressure (the log is read no faster than the client takes it).
 * The hub mounts these on its rate-limited app (http-rate-limits.ts).
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { idToken } from '../protocol/subjects.ts';
import type { ViewReader } from '../projections/view-reader.ts';
import { type Authenticator, AuthError } from './authenticator.ts';
import { bearerToken } from './bearer-token.ts';
import { type EventsExportDeps, serveEventsExport } from './events-export.ts';
import { type ExportParam, ExportQueryError, parseExportQuery } from './export-query.ts';
import { type Grant, grantsSite } from './grant.ts';
import type { HubConfig } from './config.ts';
import { beginExchange, type Exchange, sendJson } from './http-io.ts';
import type { Logger } from './logger.ts';

/** What the hub serves beside its socket: the views (when a database is reachable) and extra routes (the demo page). */
export interface HubViews {
  /** The views' reader, or a function giving it once its database is open (the hub serves sockets before). */
  readonly reader?: ViewReader | (() => ViewReader | undefined);
  /** Why there are no views (yet), for the 503's body. */
  readonly unavailable?: () => string;
  /** Mounts further routes (e.g. the demo dashboard page) before the hub's catch-all. */
  readonly mount?: (app: TemplatedApp) => void;
}

export interface ViewsApiDeps extends EventsExportDeps {
  readonly config: HubConfig;
  readonly log: Logger;
  readonly auth: Authenticator;
  readonly views: HubViews;
  /** The site stream's epoch, once connected to NATS. */
  siteEpoch(): string | undefined;
}

interface Request extends Exchange {
  /** The `:id` as given, or undefined on routes without one. */
  readonly rawSite: string | undefined;
  /** The site id, or undefined when `rawSite` is not one. */
  readonly site: string | undefined;
  readonly authorization: string;
  readonly query: string;
}

export function mountViewsApi(app: TemplatedApp, deps: ViewsApiDeps): void {
  deps.views.mount?.(app);

  app.get('/api/sites', (res, req) => {
    const r = request(res, req, undefined, deps);
    void guard(res, r, deps, async (grant) => {
      const reader = readerOf(deps.views);
      if (reader === undefined) return sendJson(res, 503, { error: deps.views.unavailable?.() ?? unavailable }, r);
      const sites = (await reader.sites()).filter((s) => grantsSite(grant, s));
      sendJson(res, 200, { sites }, r);
    });
  });

  app.get('/api/sites/:id/dashboard', (res, req) => {
    const r = request(res, req, req.getParameter(0), deps);
    void guard(res, r, deps, async () => {
      const reader = readerOf(deps.views);
      if (reader === undefined) return sendJson(res, 503, { error: deps.views.unavailable?.() ?? unavailable }, r);
      sendJson(res, 200, { ...(await reader.dashboard(r.site!)), stream: 'site', epoch: deps.siteEpoch() ?? null }, r);
    });
  });

  app.get('/api/sites/:id/inventory', (res, req) => {
    const r = request(res, req, req.getParameter(0), deps);
    void guard(res, r, deps, async () => {
      const reader = readerOf(deps.views);
      if (reader === undefined) return sendJson(res, 503, { error: deps.views.unavailable?.() ?? unavailable }, r);
      sendJson(res, 200, { ...(await reader.inventory(r.site!)), stream: 'site', epoch: deps.siteEpoch() ?? null }, r);
    });
  });

  app.get('/api/sites/:id/events', (res, req) => {
    const r = request(res, req, req.getParameter(0), deps);
    void guard(res, r, deps, async (grant) => {
      let query;
      try {
        query = parseExportQuery(r.query, SITE_EXPORT_PARAMS);
      } catch (e) {
        if (e instanceof ExportQueryError) return sendJson(res, 400, { error: e.message }, r);
        throw e;
      }
      await serveEventsExport(res, r, deps, { service: false, grant }, 'site', { ...query, sites: [r.site!] });
    });
  });
}

/** The per-site export takes what `/api/events/site` takes, but its site is in the path. */
const SITE_EXPORT_PARAMS: readonly ExportParam[] = ['events', 'from', 'to', 'limit', 'format', 'follow'];

const unavailable = 'views are not served by this hub: run it with the projections (npm start) or set DATABASE_URL';

function readerOf(views: HubViews): ViewReader | undefined {
  return typeof views.reader === 'function' ? views.reader() : views.reader;
}

/** Copies what is needed from the request before any await (uWS invalidates it). */
function request(res: HttpResponse, req: HttpRequest, rawSite: string | undefined, deps: ViewsApiDeps): Request {
  const exchange = beginExchange(res, req, deps.config.allowedOrigins);
  return Object.assign(exchange, { rawSite, site: rawSite === undefined ? undefined : idToken(rawSite), authorization: req.getHeader('authorization'), query: req.getQuery() ?? '' });
}

/** Authenticates, checks the site against the token, runs the handler; errors become JSON answers. */
async function guard(res: HttpResponse, r: Request, deps: ViewsApiDeps, handler: (grant: Grant) => Promise<void>): Promise<void> {
  let grant: Grant;
  try {
    grant = await deps.auth.verify(bearerToken(r.authorization));
  } catch (e) {
    const reason = e instanceof AuthError ? e.message : 'token check failed';
    return sendJson(res, 401, { error: `unauthorized: ${reason}` }, r);
  }
  if (r.rawSite !== undefined) {
    if (r.site === undefined) return sendJson(res, 400, { error: 'site id must be a non-negative integer or [A-Za-z0-9_-]{1,64}' }, r);
    if (!grantsSite(grant, r.site)) return sendJson(res, 403, { error: `site ${r.site} is not in your token` }, r);
  }
  try {
    await handler(grant);
  } catch (e) {
    deps.log.warn({ err: (e as Error).message, site: r.site }, 'views request failed');
    sendJson(res, 503, { error: `views unavailable: ${(e as Error).message}` }, r);
  }
}
