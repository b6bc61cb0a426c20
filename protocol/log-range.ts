/**
 * Where a replay starts and stops: `from` (an offset, a time, or a position a
 * reader gave out) and `to` (an offset or a time, inclusive), checked before any
 * connection is made and resolved against the stream once it is known.
 */
import { AckPolicy, DeliverPolicy, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { type LogBound, parseBound } from './log-bound.ts';
import { LogPositionError, LogSelectionError } from './replay-errors.ts';
import { STREAM_KEYS, type StreamKey } from './subjects.ts';

/**
 * Where a reader is: the offset of the last record it handed out, in a stream of
 * an epoch. A plain JSON value: store it, and pass it back as `from` to continue
 * right after that record.
 */
export interface LogPosition {
  readonly stream: StreamKey;
  readonly epoch: string;
  readonly offset: number;
}

export type LogFrom = number | string | Date | LogPosition;
export type LogTo = number | string | Date;

/** `from` and `to` as checked values: a bound, or a position. */
export interface CheckedRange {
  readonly from: LogBound | LogPosition | undefined;
  readonly to: LogBound | undefined;
}

export function checkRange(from: LogFrom | undefined, to: LogTo | undefined): CheckedRange {
  return { from: from !== null && typeof from === 'object' && !(from instanceof Date) ? checkPosition(from) : bound(from, 'from'), to: bound(to, 'to') };
}

function bound(v: number | string | Date | undefined, name: string): LogBound | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new LogSelectionError(`${name} must be a non-negative integer offset, not ${v}`);
    return v;
  }
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new LogSelectionError(`${name} is an invalid Date`);
    return v;
  }
  if (typeof v === 'string') return parseBound(v, name);
  throw new LogSelectionError(`${name} must be an offset, an ISO 8601 time or a Date`);
}

function checkPosition(p: unknown): LogPosition {
  const pos = p as Partial<LogPosition>;
  if (typeof pos.epoch !== 'string' || !STREAM_KEYS.includes(pos.stream as StreamKey) || !Number.isSafeInteger(pos.offset) || pos.offset! < 0) {
    throw new LogPositionError('invalid', `from is not a position a LogReader gave out ({stream, epoch, offset}): ${JSON.stringify(p)?.slice(0, 120)}`);
  }
  return { stream: pos.stream!, epoch: pos.epoch, offset: pos.offset! };
}

/** What the stream looks like when the reader opens. */
export interface StreamState {
  readonly name: string;
  readonly stream: StreamKey;
  readonly epoch: string;
  readonly first: number;
  readonly last: number;
}

/** The first offset to read: a position continues right after its offset; a time is resolved by the server. */
export async function startOffset(from: CheckedRange['from'], state: StreamState, js: JetStreamClient, jsm: JetStreamManager): Promise<number> {
  if (from === undefined) return Math.max(1, state.first);
  if (typeof from === 'number') return Math.max(1, from, state.first);
  if (from instanceof Date) return firstAtOrAfter(from, state, js, jsm);
  if (from.stream !== state.stream) throw new LogPositionError('stream', `the position is in the ${from.stream} stream, not ${state.stream}`);
  if (from.epoch !== state.epoch) {
    throw new LogPositionError('epoch', `the position is from epoch ${from.epoch} but ${state.name} is now epoch ${state.epoch}: the stream was recreated and its offsets restarted; read again from a time`);
  }
  if (from.offset + 1 < state.first) {
    throw new LogPositionError('expired', `events after offset ${from.offset} aged out of ${state.name} (it starts at ${state.first} now): continuing would skip them; read again from offset ${state.first}`);
  }
  return from.offset + 1;
}

/**
 * The offset of the last event the filter subject matches, 0 if none: where a read of the backlog ends.
 * Asked of the stream, not taken from a consumer's pending count: nats-server 2.9.10 undercounts a
 * wildcard filter's pending from a start inside one subject's run (fixed in 2.9.15), and a read that
 * ended when pending reached 0 stopped short of the range's end.
 */
export async function lastMatching(jsm: JetStreamManager, stream: string, filter: string): Promise<number> {
  return (await jsm.streams.getMessage(stream, { last_by_subj: filter }))?.seq ?? 0;
}

/**
 * The offset of the first event appended at or after `time`, by the server's own
 * rule (a consumer that starts by time, asked for one message, then deleted).
 * One ordered consumer cannot start by time: after a reset nats.js would restart it
 * by sequence with the start time still set, which the server refuses.
 */
async function firstAtOrAfter(time: Date, state: StreamState, js: JetStreamClient, jsm: JetStreamManager): Promise<number> {
  const probe = await jsm.consumers.add(state.name, {
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: time.toISOString(),
    ack_policy: AckPolicy.None,
    mem_storage: true,
    inactive_threshold: nanos(10_000),
  });
  try {
    if (probe.num_pending === 0) return state.last + 1;
    const m = await (await js.consumers.get(state.name, probe.name)).next({ expires: 5000 });
    return m?.seq ?? state.last + 1;
  } finally {
    await jsm.consumers.delete(state.name, probe.name).catch(() => {});
  }
}
