/**
 * The event schemas over HTTP (protocol/event-schema.ts), with this hub's
 * namespace in the subject patterns. No token: they describe the contract, not data.
 * - `GET /api/schema`: every event's schema and `LogRecord`, keyed by name;
 * - `GET /api/schema/:name` (e.g. `/api/schema/alarm:new`): one, or 404.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import { EVENT_NAMES } from '../protocol/catalogue.ts';
import { eventSchemas, LOG_RECORD } from '../protocol/event-schema.ts';
import type { HubConfig } from './config.ts';
import { beginExchange, sendJson, writeHead } from './http-io.ts';

export function mountSchemaApi(app: TemplatedApp, config: HubConfig): void {
  const schemas = eventSchemas({ namespace: config.namespace });
  // Encoded once: the schemas only change with the hub's code.
  const all = JSON.stringify(schemas);
  const one = new Map(Object.entries(schemas).map(([name, schema]) => [name, JSON.stringify(schema)]));

  app.get('/api/schema', (res, req) => {
    const exchange = beginExchange(res, req, config.allowedOrigins);
    res.cork(() => writeHead(res, 200, 'application/json', exchange).end(all));
  });

  app.get('/api/schema/:name', (res, req) => {
    const exchange = beginExchange(res, req, config.allowedOrigins);
    let name: string;
    try {
      // A client may send `alarm%3Anew`.
      name = decodeURIComponent(req.getParameter(0) ?? '');
    } catch {
      name = '';
    }
    const text = one.get(name);
    if (text === undefined) return sendJson(res, 404, { error: `no schema named ${JSON.stringify(name.slice(0, 64))}: one of ${[...EVENT_NAMES, LOG_RECORD].join(', ')}` }, exchange);
    res.cork(() => writeHead(res, 200, 'application/schema+json', exchange).end(text));
  });
}
