/**
 * Appends a validated event to its JetStream log. Shared by HubPublisher and the
 * hub's ingest; not part of the browser entry.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import type { Append } from './event-append.ts';
import { DERIVED_HEADER } from './log-record.ts';

export interface AppendOptions {
  readonly timeoutMs?: number;
  /** Set by the projections: the event is derived from others (see `DERIVED_HEADER`). */
  readonly derived?: boolean;
}

/** `Nats-Msg-Id` makes a retried append idempotent within the stream's duplicate window. */
export function appendToLog(js: JetStreamClient, append: Append, msgId: string, options: AppendOptions = {}): Promise<PubAck> {
  const h = headers();
  h.set('Hub-Event', append.event);
  if (options.derived === true) h.set(DERIVED_HEADER, '1');
  return js.publish(append.subject, append.payload, { msgID: msgId, headers: h, ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }) });
}
