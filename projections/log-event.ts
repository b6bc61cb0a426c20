/** An event of the site log as the projections see it: where it sits, whose it is, its raw payload. */
import type { JsMsg } from '@nats-io/jetstream';
import { type SiteEventName, specForSubject } from '../protocol/catalogue.ts';
import { parseSubject } from '../protocol/subjects.ts';
import { type Delivery, parseAckSubject } from './ack-subject.ts';

export interface LogEvent {
  /** Stream sequence: the offset clients and checkpoints speak. */
  readonly seq: number;
  readonly subject: string;
  /** Empty when the subject is not a site subject of this namespace. */
  readonly siteId: string;
  /** The catalogue name, or undefined for subjects the catalogue does not know. */
  readonly name: SiteEventName | undefined;
  /** Append time in ms since the Unix epoch (the log's clock, so replays agree). */
  readonly ts: number;
  /** msgpack payload as stored; decoded only by projections that care. */
  readonly payload: Uint8Array;
}

/** What a subject says about an event, parsed once per subject. */
export interface SubjectInfo {
  readonly subject: string;
  readonly siteId: string;
  readonly name: SiteEventName | undefined;
}

/**
 * Where a message sits in its stream, read from its ack subject (see ack-subject.ts);
 * from `info` for a message without one.
 */
export function deliveryOf(m: JsMsg): Delivery {
  const reply = (m as { reply?: unknown }).reply;
  return (typeof reply === 'string' ? parseAckSubject(reply) : undefined) ?? { seq: m.info.streamSequence, ts: Math.floor(m.info.timestampNanos / 1e6), pending: m.info.pending };
}

/** Parses subjects once: a stream has few distinct ones (sites × event kinds). */
const subjects = new Map<string, SubjectInfo>();

/** Whose event a subject carries and its catalogue name; memoized. */
export function describeSubject(ns: string, subject: string): SubjectInfo {
  let where = subjects.get(subject);
  if (where === undefined) {
    const parsed = parseSubject(ns, subject);
    const site = parsed?.stream === 'site' ? parsed : undefined;
    where = { subject, siteId: site?.owner ?? '', name: site === undefined ? undefined : (specForSubject('site', site.tail)?.name as SiteEventName | undefined) };
    if (subjects.size > 100_000) subjects.clear();
    subjects.set(subject, where);
  }
  return where;
}

export function logEventOf(ns: string, m: JsMsg, delivery: Delivery = deliveryOf(m)): LogEvent {
  const where = describeSubject(ns, m.subject);
  return { seq: delivery.seq, subject: m.subject, siteId: where.siteId, name: where.name, ts: delivery.ts, payload: m.data };
}
