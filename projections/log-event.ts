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

export function logEventOf(ns: string, m: JsMsg): LogEvent {
  const parsed = parseSubject(ns, m.subject);
  const site = parsed?.stream === 'site' ? parsed : undefined;
  const spec = site === undefined ? undefined : specForSubject('site', site.tail);
  return {
    seq: m.seq,
    subject: m.subject,
    siteId: site?.owner ?? '',
    name: spec?.name as SiteEventName | undefined,
    ts: Math.floor(m.info.timestampNanos / 1e6),
    payload: m.data,
  };
}
