/** An event of the site log as the projections see it: where it sits, whose it is, its raw payload. */
import type { JsMsg } from '@nats-io/jetstream';
import { type SiteEventName, specForSubject } from '../protocol/catalogue.ts';
import { parseSubject } from '../protocol/subjects.ts';

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

/** Where a message sits in its stream, read from its ack subject. */
export interface Delivery {
  readonly seq: number;
  readonly ts: number;
  /** Messages the consumer still had to deliver after this one. */
  readonly pending: number;
}

/**
 * Reads the ack subject (`$JS.ACK.<stream>.<consumer>.<delivered>.<seq>.<cseq>.<ns>.<pending>`,
 * or its 12-token form with domain and account). nats.js builds an object of nine
 * fields per message for `info`; replays read millions, so only three are taken.
 */
export function deliveryOf(m: JsMsg): Delivery {
  const reply = (m as { reply?: unknown }).reply;
  if (typeof reply !== 'string') return { seq: m.info.streamSequence, ts: Math.floor(m.info.timestampNanos / 1e6), pending: m.info.pending };
  // Scanned from the end, without splitting: the last tokens are `<seq>.<cseq>.<ns>.<pending>`,
  // followed by `.<random>` in the 12-token form (9 and 11 tokens have none).
  let end = reply.length;
  let dot = reply.lastIndexOf('.', end - 1);
  if (countDots(reply) > 10) {
    end = dot;
    dot = reply.lastIndexOf('.', end - 1);
  }
  const pending = Number(reply.slice(dot + 1, end));
  const nsEnd = dot;
  const nsStart = reply.lastIndexOf('.', nsEnd - 1);
  const cseqStart = reply.lastIndexOf('.', nsStart - 1);
  const seqStart = reply.lastIndexOf('.', cseqStart - 1);
  return { seq: Number(reply.slice(seqStart + 1, cseqStart)), ts: Math.floor(Number(reply.slice(nsStart + 1, nsEnd)) / 1e6), pending };
}

function countDots(s: string): number {
  let n = 0;
  for (let i = s.indexOf('.'); i !== -1; i = s.indexOf('.', i + 1)) n++;
  return n;
}

/** Parses subjects once: a stream has few distinct ones (sites × event kinds). */
const subjects = new Map<string, { siteId: string; name: SiteEventName | undefined }>();

export function logEventOf(ns: string, m: JsMsg, delivery: Delivery = deliveryOf(m)): LogEvent {
  let where = subjects.get(m.subject);
  if (where === undefined) {
    const parsed = parseSubject(ns, m.subject);
    const site = parsed?.stream === 'site' ? parsed : undefined;
    where = { siteId: site?.owner ?? '', name: site === undefined ? undefined : (specForSubject('site', site.tail)?.name as SiteEventName | undefined) };
    if (subjects.size > 100_000) subjects.clear();
    subjects.set(m.subject, where);
  }
  return { seq: delivery.seq, subject: m.subject, siteId: where.siteId, name: where.name, ts: delivery.ts, payload: m.data };
}
