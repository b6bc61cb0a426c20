/**
 * A JSON Schema (draft 2020-12) per event name, generated from the catalogue
 * (its logs, subjects and priority class, as `x-` annotations) and the payload
 * rules (payload-schemas.ts), plus `LogRecord`, the shape of one exported event.
 * The hub serves them at `GET /api/schema`; docs/event-schema.json is this
 * output (`npm run schema:docs` rewrites it, a test fails when it is stale).
 * Browser-safe: no node imports.
 */
import { DOMAIN_EVENTS, EVENT_NAMES, EVENT_SPECS, type EventName, isEventName } from './catalogue.ts';
import { type JsonSchema, PAYLOAD_DEFS, payloadSchema } from './payload-schemas.ts';
import { ID_PATTERN, STREAM_KEYS } from './subjects.ts';

export type { JsonSchema } from './payload-schemas.ts';

export const SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';
/** The name of the export record's schema, beside the event names. */
export const LOG_RECORD = 'LogRecord';

/** `$id` of an event's schema (or of `LogRecord`): a URN, so it names the schema wherever the file is served from. */
export function schemaId(name: string): string {
  return `urn:plant-realtime-hub:schema:${name}`;
}

/** What stands for the namespace in subject patterns unless one is given (the docs' form). */
export const NAMESPACE_PLACEHOLDER = '{namespace}';

/**
 * Every event's schema, keyed by event name, then `LogRecord`. Subject patterns
 * name `namespace` (a hub passes its own).
 *
 * @example
 * const schemas = eventSchemas({ namespace: 'plant' });
 * schemas['alarm:new']['x-priority']; // 'critical'
 */
export function eventSchemas(options: { namespace?: string } = {}): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {};
  for (const name of EVENT_NAMES) out[name] = eventSchema(name, options);
  out[LOG_RECORD] = logRecordSchema();
  return out;
}

/** One event's schema, or undefined for a name that is neither an event nor `LogRecord`. */
export function schemaFor(name: string, options: { namespace?: string } = {}): JsonSchema | undefined {
  if (name === LOG_RECORD) return logRecordSchema();
  return isEventName(name) ? eventSchema(name, options) : undefined;
}

function eventSchema(name: EventName, options: { namespace?: string }): JsonSchema {
  const ns = options.namespace ?? NAMESPACE_PLACEHOLDER;
  const specs = EVENT_SPECS.filter((s) => s.name === name);
  const domain = Object.entries(DOMAIN_EVENTS)
    .filter(([, carrier]) => carrier === name)
    .map(([domainEvent]) => domainEvent);
  const payload = payloadSchema(name);
  const defs = usedDefs(payload);
  return {
    $schema: SCHEMA_DIALECT,
    $id: schemaId(name),
    title: name,
    ...payload,
    'x-priority': specs[0]!.priority,
    'x-streams': specs.map((s) => ({ stream: s.stream, subject: subjectPattern(ns, s.stream, s.tail) })),
    ...(domain.length === 0 ? {} : { 'x-domain-events': domain }),
    ...(DERIVED[name] === undefined ? {} : { 'x-derived': DERIVED[name] }),
    ...(Object.keys(defs).length === 0 ? {} : { $defs: defs }),
  };
}

/** Events the hub's own projections append (marked `derived: true` in exports). */
const DERIVED: Partial<Record<EventName, string>> = {
  'alarm:new': 'The inventory projection raises `{id, siteId, type: "low_stock", level, title, message, materialId, onHand, threshold, unit, offset}` when a material falls below its threshold.',
  'alarm:update': 'The inventory projection clears its low-stock alarm (`type: "low_stock"`, `status: "cleared"`) when stock is back above the threshold.',
  'dashboard:update': 'The dashboard projection pushes its snapshot of a site, at most once per interval.',
};

function subjectPattern(ns: string, stream: string, tail: string): string {
  if (stream === 'site') return `${ns}.site.{siteId}.${tail}`;
  if (stream === 'user') return `${ns}.user.{userId}.${tail}`;
  return `${ns}.global.${tail}`;
}

/** The `$defs` a payload schema refers to (`#/$defs/Name`), so each event's schema stands alone. */
function usedDefs(schema: JsonSchema): Record<string, JsonSchema> {
  const text = JSON.stringify(schema);
  const defs: Record<string, JsonSchema> = {};
  for (const [name, def] of Object.entries(PAYLOAD_DEFS)) if (text.includes(`"#/$defs/${name}"`)) defs[name] = def;
  return defs;
}

/** One exported event: an NDJSON line, a CSV or Parquet row (with `data` as JSON text there), the WebSocket's meta. */
function logRecordSchema(): JsonSchema {
  const byEvent = EVENT_NAMES.map((name) => ({
    if: { required: ['event'], properties: { event: { const: name } } },
    then: { properties: { stream: { enum: [...new Set(EVENT_SPECS.filter((s) => s.name === name).map((s) => s.stream))] }, data: { $ref: schemaId(name) } } },
  }));
  return {
    $schema: SCHEMA_DIALECT,
    $id: schemaId(LOG_RECORD),
    title: LOG_RECORD,
    description: 'One event as exported (GET /api/events/:stream, GET /api/sites/:id/events, LogReader). `data` follows the schema of its `event` (resolved by `$id` among the schemas of GET /api/schema).',
    type: 'object',
    required: ['offset', 'epoch', 'ts', 'stream', 'event', 'data', 'derived'],
    additionalProperties: false,
    properties: {
      offset: { description: 'Position in its log (the JetStream stream sequence): resume after it.', type: 'integer', minimum: 1 },
      epoch: { description: 'The log\'s epoch: when it changes, the log was recreated and offsets start over.', type: 'string', minLength: 1 },
      ts: { description: 'When the log stored the event, in milliseconds since 1970-01-01 UTC (as on the WebSocket).', type: 'integer', minimum: 0 },
      stream: { description: 'Which log: site events, one user\'s notifications, or broadcasts.', enum: [...STREAM_KEYS] },
      site: { description: 'The site (stream `site` only).', type: 'string', pattern: ID_PATTERN.source },
      user: { description: 'The user\'s subject token (stream `user` only): the id itself, or `=` + base64url for ids that are not subject-safe.', type: 'string', pattern: '^([A-Za-z0-9_-]{1,64}|=[A-Za-z0-9_-]{1,512})$' },
      event: { description: 'The event name.', enum: [...EVENT_NAMES] },
      data: { description: 'The payload, as the producer sent it (JSON).' },
      derived: { description: 'True for events the hub\'s projections appended (dashboard snapshots, low-stock alarms), false for producers\' events.', type: 'boolean' },
    },
    allOf: [
      { if: { required: ['stream'], properties: { stream: { const: 'site' } } }, then: { required: ['site'], not: { required: ['user'] } } },
      { if: { required: ['stream'], properties: { stream: { const: 'user' } } }, then: { required: ['user'], not: { required: ['site'] } } },
      { if: { required: ['stream'], properties: { stream: { const: 'global' } } }, then: { not: { anyOf: [{ required: ['site'] }, { required: ['user'] }] } } },
      ...byEvent,
    ],
  };
}

/**
 * docs/event-schema.json's text: every schema, subjects with the namespace placeholder.
 * Deterministic, so a stale file shows as a difference.
 */
export function eventSchemaDocument(): string {
  return `${JSON.stringify(eventSchemas(), null, 2)}\n`;
}
