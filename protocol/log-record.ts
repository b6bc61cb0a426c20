/**
 * One record shape for every way an event leaves the log for analytics: an
 * NDJSON line, a CSV row, a Parquet row, what `LogReader` yields. The same
 * `offset`, `epoch`, `ts` (milliseconds) and `stream` a WebSocket frame's meta
 * carries. Browser-safe.
 */
import type { EventName } from './catalogue.ts';
import type { StreamKey } from './subjects.ts';

export interface LogRecord {
  /** The JetStream sequence of the event in its stream. */
  readonly offset: number;
  /** The stream's epoch: offsets of another epoch are meaningless here. */
  readonly epoch: string;
  /** Append time, milliseconds since the Unix epoch. */
  readonly ts: number;
  readonly stream: StreamKey;
  /** The site of a site event. */
  readonly site?: string;
  /** The recipient of a private notification (as the producer named it). */
  readonly user?: string;
  readonly event: EventName;
  /** The payload, as JSON values. */
  readonly data: unknown;
  /** True for events the hub's projections produced (dashboard snapshots, low-stock alarms), false for domain events. */
  readonly derived: boolean;
}

/** The columns of CSV and Parquet exports, in order. */
export const RECORD_COLUMNS = ['offset', 'epoch', 'ts', 'stream', 'site', 'user', 'event', 'data', 'derived'] as const;

/**
 * Header the projections set (`1`) on the events they append: derived data, not
 * something that happened in the plant. Readers turn it into `derived: true`.
 */
export const DERIVED_HEADER = 'Hub-Derived';

/** The projections' deterministic msg ids: `dashboard:<site>:<offset>` (DashboardPusher), `low-stock:…` (InventoryProjection). */
const DASHBOARD_MSG_ID = /^dashboard:[A-Za-z0-9_-]{1,64}:\d+$/;

/**
 * Whether an event is derived. Events appended before the header existed carry
 * none; for them the projections' own msg ids are the mark (a producer reusing
 * those exact id forms would be taken for a projection).
 */
export function isDerived(event: string, header: string | undefined, msgId: string | undefined): boolean {
  if (header !== undefined && header !== '') return header === '1';
  if (msgId === undefined || msgId === '' || !markedByMsgId(event)) return false;
  if (event === 'dashboard:update') return DASHBOARD_MSG_ID.test(msgId);
  return msgId.startsWith('low-stock:');
}

/** Whether an event without the header may still be derived by its msg id: readers need look at `Nats-Msg-Id` only for these. */
export function markedByMsgId(event: string): boolean {
  return event === 'dashboard:update' || event === 'alarm:new' || event === 'alarm:update';
}
