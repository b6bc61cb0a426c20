/**
 * Analytics replay: a site's events between two offsets or times, read from the
 * site log through an ordered consumer one page at a time. The next page is
 * fetched only when the caller has taken the previous one, so a slow reader
 * slows the read instead of filling memory.
 */
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { isSiteEvent, type SiteEventName, siteEventSpec, specForSubject } from '../protocol/catalogue.ts';
import { decodePayload } from '../protocol/codec.ts';
import { parseSubject, streamName } from '../protocol/subjects.ts';

/** A bound of the range: an offset (stream sequence) or a time, both inclusive. */
export type RangeBound = { readonly offset: number } | { readonly time: Date };

export interface ExportRange {
  readonly from?: RangeBound;
  /** Default: the stream's end when the export starts. */
  readonly to?: RangeBound;
  /** Only this event (filtered by NATS on its subject, so other events are never read); default: all. */
  readonly event?: SiteEventName;
}

/** One line of the export. */
export interface ExportedEvent {
  readonly offset: number;
  readonly ts: string;
  readonly site: string;
  readonly event: string;
  readonly data: unknown;
}

export class ExportRangeError extends Error {
  override readonly name = 'ExportRangeError';
}

const PAGE = 500;

/**
 * Parses `from`/`to` as given in a query string: a non-negative integer offset, or
 * an ISO 8601 time (`2024-05-01T08:00:00Z`).
 */
export function parseBound(raw: string | null | undefined, name: string): RangeBound | undefined {
  if (raw === null || raw === undefined || raw === '') return undefined;
  if (/^\d{1,16}$/.test(raw)) return { offset: Number(raw) };
  if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw)) {
    const time = new Date(raw);
    if (!Number.isNaN(time.getTime())) return { time };
  }
  throw new ExportRangeError(`${name} must be an offset (a non-negative integer) or an ISO 8601 time, not ${JSON.stringify(raw.slice(0, 40))}`);
}

/** Parses an event name as given in a query string (`production:update`): a site event of the catalogue. */
export function parseSiteEvent(raw: string | null | undefined, name: string): SiteEventName | undefined {
  if (raw === null || raw === undefined || raw === '') return undefined;
  if (isSiteEvent(raw)) return raw;
  throw new ExportRangeError(`${name} must be a site event (alarm:new, production:update, …), not ${JSON.stringify(raw.slice(0, 40))}`);
}

/**
 * @example
 * for await (const e of exportSiteEvents(js, 'plant', '7', { from: { time: new Date('2024-05-01') } })) console.log(e.offset, e.event);
 */
export async function* exportSiteEvents(js: JetStreamClient, ns: string, siteId: string, range: ExportRange): AsyncGenerator<ExportedEvent> {
  const stream = streamName(ns, 'site');
  const jsm = await js.jetstreamManager();
  const end = (await jsm.streams.info(stream)).state.last_seq;
  const from = range.from;
  const start =
    from === undefined ? { deliver_policy: DeliverPolicy.All } : 'offset' in from ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Math.max(1, from.offset) } : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: from.time.toISOString() };
  if (from !== undefined && 'offset' in from && from.offset > end) return;
  // One subject filter (nats-server 2.9 takes one per consumer): the event's subject, or all of the site's.
  const subject = `${ns}.site.${siteId}.${range.event === undefined ? '>' : siteEventSpec(range.event).tail}`;
  const consumer = await js.consumers.get(stream, { filter_subjects: subject, ...start });
  try {
    const to = range.to;
    const past = (seq: number, ts: number) => seq > end || (to !== undefined && ('offset' in to ? seq > to.offset : ts > to.time.getTime()));
    // An empty selection would leave the first fetch waiting out its expiry.
    if ((await consumer.info()).num_pending === 0) return;
    for (;;) {
      let received = 0;
      for await (const m of await consumer.fetch({ max_messages: PAGE, expires: 2000 })) {
        received++;
        const ts = Math.floor(m.info.timestampNanos / 1e6);
        if (past(m.seq, ts)) return;
        const parsed = parseSubject(ns, m.subject);
        const spec = parsed === undefined ? undefined : specForSubject('site', parsed.tail);
        if (spec !== undefined) yield { offset: m.seq, ts: new Date(ts).toISOString(), site: siteId, event: spec.name, data: m.data.length === 0 ? null : decodePayload(m.data) };
        if (m.info.pending === 0 || m.seq >= end) return;
      }
      if (received === 0) return;
    }
  } finally {
    // Finished, aborted or failed: the consumer goes now, not after its 5-minute inactivity threshold.
    await consumer.delete().catch(() => {});
  }
}
