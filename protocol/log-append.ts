/**
 * Appends a validated event to its JetStream log. Shared by HubPublisher and the
 * hub's ingest; not part of the browser entry.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import type { Append } from './event-append.ts';

/** `Nats-Msg-Id` makes a retried append idempotent within the stream's duplicate window. */
export function appendToLog(js: JetStreamClient, append: Append, msgId: string, timeoutMs?: number): Promise<PubAck> {
  const h = headers();
  h.set('Hub-Event', append.event);
  return js.publish(append.subject, append.payload, { msgID: msgId, headers: h, ...(timeoutMs === undefined ? {} : { timeout: timeoutMs }) });
}
