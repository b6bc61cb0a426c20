/**
 * Domain events: what the projections fold. They travel under the seed's event
 * names, with the seed's payloads, so a client sees `production:update
 * {type: 'batch_started', batch}` exactly as the seed sent it. What happened is
 * read from the payload: its `type` (production, inventory, as the seed did) or
 * the entity's new `status` (task, order, vehicle, alarm update).
 *
 * A payload without those fields is a plain seed update (delivered, not folded);
 * a payload that has them but is malformed is refused by `buildAppend` and, if
 * it reaches the log another way, dead-lettered by the projections.
 * Browser-safe: no node imports.
 */
import type { SiteEventName } from './catalogue.ts';
import { InvalidEventError } from './errors.ts';

/** The entity an id belongs to, for status changes. */
export type TrackedEntity = 'task' | 'order' | 'vehicle';

/** A material as stock movements carry it; `threshold` (or the seed's `minStock`/`min_stock`) arms the low-stock alarm. */
export interface MaterialRef {
  readonly id: string;
  readonly name?: string;
  readonly unit?: string;
  readonly threshold?: number;
}

/** A domain event, normalised for folding: ids are strings, numbers are finite. */
export type DomainEvent =
  | { readonly type: 'batch_started'; readonly batchId: string; readonly volume: number }
  | { readonly type: 'batch_completed'; readonly batchId: string; readonly volume: number }
  | { readonly type: 'status_changed'; readonly entity: TrackedEntity; readonly id: string; readonly status: string }
  | { readonly type: 'stock_in' | 'stock_out' | 'adjustment'; readonly material: MaterialRef; readonly quantity: number }
  | { readonly type: 'alarm_raised'; readonly id: string; readonly level: string; readonly title: string | undefined }
  | { readonly type: 'alarm_acknowledged' | 'alarm_cleared'; readonly id: string; readonly level: string | undefined; readonly title: string | undefined };

/** Alarm statuses of `alarm:update` that close an alarm. */
export const CLOSED_ALARM_STATUSES: readonly string[] = ['cleared', 'resolved', 'closed'];

/** Level given to alarms raised without one (the seed's alarms always carry one). */
export const UNKNOWN_LEVEL = 'unknown';

const STOCK_TYPES: ReadonlySet<string> = new Set(['stock_in', 'stock_out', 'adjustment']);
const BATCH_TYPES: ReadonlySet<string> = new Set(['batch_started', 'batch_completed']);
const MAX_ID = 128;
const MAX_WORD = 64;
const MAX_TEXT = 500;

/**
 * The domain event a site event's payload carries, `undefined` for a plain seed
 * update, or an InvalidEventError saying what is wrong with it.
 *
 * @example
 * parseDomainEvent('production:update', { type: 'batch_started', batch: { id: 77, volume: 8 } });
 * // { type: 'batch_started', batchId: '77', volume: 8 }
 */
export function parseDomainEvent(event: SiteEventName, data: unknown): DomainEvent | undefined {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const d = data as Record<string, unknown>;
  switch (event) {
    case 'production:update': {
      if (typeof d.type !== 'string' || !BATCH_TYPES.has(d.type)) return undefined;
      const batch = object(d.batch, event, d.type, 'batch');
      const volume = batch.volume === undefined || batch.volume === null ? 0 : number(batch.volume, event, d.type, 'batch.volume');
      if (volume < 0) throw new InvalidEventError(`${event} ${d.type}: batch.volume must not be negative`);
      return { type: d.type as 'batch_started' | 'batch_completed', batchId: id(batch.id, event, d.type, 'batch.id'), volume };
    }
    case 'task:update':
    case 'order:update':
    case 'vehicle:update': {
      if (d.status === undefined) return undefined;
      const entity = event.slice(0, event.indexOf(':')) as TrackedEntity;
      return { type: 'status_changed', entity, id: id(d.id, event, '', 'id'), status: word(d.status, event, '', 'status') };
    }
    case 'inventory:update': {
      if (typeof d.type !== 'string' || !STOCK_TYPES.has(d.type)) return undefined;
      const quantity = number(d.quantity, event, d.type, 'quantity');
      if (d.type !== 'adjustment' && quantity < 0) throw new InvalidEventError(`${event} ${d.type}: quantity must not be negative (use an adjustment to correct stock down)`);
      return { type: d.type as 'stock_in' | 'stock_out' | 'adjustment', material: material(d.material, event, d.type), quantity };
    }
    case 'alarm:new': {
      if (d.id === undefined) return undefined;
      const level = d.level === undefined || d.level === null ? UNKNOWN_LEVEL : word(d.level, event, '', 'level');
      return { type: 'alarm_raised', id: id(d.id, event, '', 'id'), level, title: optionalText(d.title ?? d.message, event, '', 'title') };
    }
    case 'alarm:update': {
      if (d.id === undefined || typeof d.status !== 'string') return undefined;
      const status = d.status;
      const type = status === 'acknowledged' ? 'alarm_acknowledged' : CLOSED_ALARM_STATUSES.includes(status) ? 'alarm_cleared' : undefined;
      if (type === undefined) return undefined;
      const level = d.level === undefined || d.level === null ? undefined : word(d.level, event, '', 'level');
      return { type, id: id(d.id, event, '', 'id'), level, title: optionalText(d.title ?? d.message, event, '', 'title') };
    }
    default:
      return undefined;
  }
}

/** Throws InvalidEventError when a payload claims to be a domain event but is malformed. */
export function checkDomainEvent(event: SiteEventName, data: unknown): void {
  parseDomainEvent(event, data);
}

/**
 * What a check names in its error: `task:update: id`, `inventory:update stock_in: material.id`. Made only when
 * the check fails: built for every event, these labels were a measurable part of a projection rebuild's fold.
 */
function label(event: string, type: string, field: string): string {
  return type === '' ? `${event}: ${field}` : `${event} ${type}: ${field}`;
}

function object(v: unknown, event: string, type: string, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InvalidEventError(`${label(event, type, field)} must be an object`);
  return v as Record<string, unknown>;
}

function id(v: unknown, event: string, type: string, field: string): string {
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'string' && v.length > 0 && v.length <= MAX_ID && !v.includes('\0')) return v;
  throw new InvalidEventError(`${label(event, type, field)} must be a number or a string of 1 to ${MAX_ID} characters`);
}

function word(v: unknown, event: string, type: string, field: string): string {
  if (typeof v === 'string' && v.length > 0 && v.length <= MAX_WORD && !v.includes('\0')) return v;
  throw new InvalidEventError(`${label(event, type, field)} must be a string of 1 to ${MAX_WORD} characters`);
}

function optionalText(v: unknown, event: string, type: string, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.includes('\0')) throw new InvalidEventError(`${label(event, type, field)} must be a string`);
  return v.length > MAX_TEXT ? v.slice(0, MAX_TEXT) : v;
}

/**
 * Prisma's Decimal columns reach the log as their JSON form, a decimal string
 * ("8.5", "1e-7"): what subscribers get stays that string, and the fold reads it
 * as the number it is. Only plain decimal notation counts: not '', ' ', '0x10' or
 * 'Infinity', which Number() would also turn into numbers.
 */
const DECIMAL_STRING = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function number(v: unknown, event: string, type: string, field: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.length <= MAX_WORD && DECIMAL_STRING.test(v)) {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
  }
  throw new InvalidEventError(`${label(event, type, field)} must be a finite number (or a decimal string such as a Decimal's "8.5")`);
}

function material(v: unknown, event: string, type: string): MaterialRef {
  const m = object(v, event, type, 'material');
  const rawThreshold = m.threshold ?? m.minStock ?? m.min_stock;
  const threshold = rawThreshold === undefined || rawThreshold === null ? undefined : number(rawThreshold, event, type, 'material.threshold');
  const name = m.name === undefined || m.name === null ? undefined : optionalText(m.name, event, type, 'material.name');
  const unit = m.unit === undefined || m.unit === null ? undefined : word(m.unit, event, type, 'material.unit');
  return { id: id(m.id, event, type, 'material.id'), ...(name === undefined ? {} : { name }), ...(unit === undefined ? {} : { unit }), ...(threshold === undefined ? {} : { threshold }) };
}
