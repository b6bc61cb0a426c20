/**
 * The JSON Schema of each event's `data`, written to say exactly what the hub
 * accepts: `buildAppend` (protocol/event-append.ts) and `parseDomainEvent`
 * (protocol/domain-events.ts). The seed's payloads are whatever its Prisma rows
 * held, so most events accept any JSON value; where a payload claims to be a
 * domain event (a batch `type`, a stock `type`, a `status`, an alarm `id`),
 * `if`/`then` states the shape the projections need, as the parser checks it.
 * Change a rule there, change it here: test/event-schema.test.ts checks both agree.
 * Browser-safe: no node imports.
 */
import { type EventName, SYSTEM_LEVELS } from './catalogue.ts';
import { CLOSED_ALARM_STATUSES } from './domain-events.ts';

/** A JSON Schema (draft 2020-12) as plain data. */
export type JsonSchema = { readonly [keyword: string]: unknown };

const NO_NUL = '^[^\\u0000]*$';
/** `Number()`'s plain decimal notation, as domain-events.ts reads Prisma Decimals ("8.5"). */
const DECIMAL = '^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?$';
const NON_NEGATIVE_DECIMAL = '^\\+?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?$';

/** Shared definitions; each event schema carries the ones it uses under `$defs`. */
export const PAYLOAD_DEFS: Readonly<Record<string, JsonSchema>> = {
  Id: { description: 'An id: a number, or a string of 1 to 128 characters.', anyOf: [{ type: 'number' }, { type: 'string', minLength: 1, maxLength: 128, pattern: NO_NUL }] },
  Word: { description: 'A status or level: a string of 1 to 64 characters.', type: 'string', minLength: 1, maxLength: 64, pattern: NO_NUL },
  Text: { description: 'Free text (the hub keeps the first 500 characters in its views).', type: 'string', pattern: NO_NUL },
  Decimal: { description: 'A finite number, or a decimal string such as a Prisma Decimal\'s "8.5".', anyOf: [{ type: 'number' }, { type: 'string', maxLength: 64, pattern: DECIMAL }] },
  NonNegativeDecimal: { description: 'A number ≥ 0, or a decimal string of one.', anyOf: [{ type: 'number', minimum: 0 }, { type: 'string', maxLength: 64, pattern: NON_NEGATIVE_DECIMAL }] },
};

const ref = (name: keyof typeof PAYLOAD_DEFS & string): JsonSchema => ({ $ref: `#/$defs/${name}` });
const nullable = (name: keyof typeof PAYLOAD_DEFS & string): JsonSchema => ({ anyOf: [{ type: 'null' }, ref(name)] });
/** A condition on an object's discriminating property; non-objects never meet it. */
const when = (required: string[], properties?: Record<string, JsonSchema>): JsonSchema => ({ type: 'object', required, ...(properties === undefined ? {} : { properties }) });

const statusChange = (entity: string): JsonSchema => ({
  description: `The seed's ${entity} object (any JSON value). With a \`status\` it is the domain event \`${entity}_status_changed\`: \`id\` and \`status\` are then required.`,
  if: when(['status']),
  then: { required: ['id', 'status'], properties: { id: ref('Id'), status: ref('Word') } },
});

const alarmFields = {
  id: ref('Id'),
  level: nullable('Word'),
  title: nullable('Text'),
  message: { ...nullable('Text'), description: 'Read as the title when `title` is absent.' },
};
const alarmSite = {
  siteId: { description: 'The alarm\'s site, when the append names none (`siteId` or `site_id`, a site id).' },
  site_id: { description: 'The alarm\'s site as a database row carries it.' },
};

const PAYLOADS: Readonly<Record<EventName, JsonSchema>> = {
  'alarm:new': {
    description: 'The seed\'s alarm object. With an `id` it is the domain event `alarm_raised` (its `level` and `title`, or `message`, are folded).',
    type: 'object',
    properties: alarmSite,
    if: when(['id']),
    then: { properties: alarmFields },
  },
  'alarm:update': {
    description: 'The seed\'s alarm object. With an `id` and a `status` of acknowledged (`alarm_acknowledged`) or cleared, resolved, closed (`alarm_cleared`) it is a domain event.',
    type: 'object',
    properties: { ...alarmSite, status: { description: 'The alarm\'s new status.' } },
    if: when(['id', 'status'], { status: { enum: ['acknowledged', ...CLOSED_ALARM_STATUSES] } }),
    then: { properties: alarmFields },
  },
  'production:update': {
    description: 'Any JSON value (the seed sends `{type, batch}`). With `type` batch_started or batch_completed it is a domain event: `batch.volume` (m³, default 0) adds to the day\'s production.',
    if: when(['type'], { type: { enum: ['batch_started', 'batch_completed'] } }),
    then: { required: ['batch'], properties: { batch: { type: 'object', required: ['id'], properties: { id: ref('Id'), volume: nullable('NonNegativeDecimal') } } } },
  },
  'task:update': statusChange('task'),
  'order:update': statusChange('order'),
  'vehicle:update': statusChange('vehicle'),
  'inventory:update': {
    description: 'Any JSON value (the seed sends `{type, material, quantity}`). With `type` stock_in, stock_out or adjustment it is a stock movement the inventory view folds: `quantity` ≥ 0 except for an adjustment; `material.threshold` (or the seed\'s `minStock`, `min_stock`) arms the low-stock alarm.',
    if: when(['type'], { type: { enum: ['stock_in', 'stock_out', 'adjustment'] } }),
    then: {
      required: ['material', 'quantity'],
      properties: {
        quantity: ref('Decimal'),
        material: {
          type: 'object',
          required: ['id'],
          properties: { id: ref('Id'), name: nullable('Text'), unit: nullable('Word'), threshold: nullable('Decimal'), minStock: nullable('Decimal'), min_stock: nullable('Decimal') },
        },
      },
      if: when(['type'], { type: { enum: ['stock_in', 'stock_out'] } }),
      then: { properties: { quantity: ref('NonNegativeDecimal') } },
    },
  },
  'dashboard:update': {
    description: 'Any JSON value: the seed\'s dashboard overview, or the dashboard projection\'s snapshot (`{siteId, offset, day, production, tasks, vehicles, orders, alarms, updatedAt}`).',
  },
  'notification:new': {
    description: 'Any JSON value: the seed\'s notification object, for one user (user log) or everyone (global log).',
  },
  'system:message': {
    description: 'A message to every connected user, as the seed\'s `broadcastSystemMessage(message, level)` sends it.',
    type: 'object',
    required: ['message', 'level'],
    properties: {
      message: { type: 'string', minLength: 1 },
      level: { enum: [...SYSTEM_LEVELS] },
      timestamp: { description: 'When it was sent (ISO 8601, set by broadcastSystemMessage; not checked).', format: 'date-time' },
    },
  },
};

/** The schema of an event's `data`, without `$defs` (see PAYLOAD_DEFS). */
export function payloadSchema(event: EventName): JsonSchema {
  return PAYLOADS[event];
}
