/** Where a filter's events end in a stream. */
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';

/** Sequence of the last event of `stream` matching `filter`, or 0 if none does. */
export async function lastSeqMatching(nc: NatsConnection, stream: string, filter: string): Promise<number> {
  const consumer = await jetstream(nc).consumers.get(stream, { filter_subjects: filter, deliver_policy: DeliverPolicy.Last });
  const info = await consumer.info();
  if (info.num_pending === 0) return 0;
  for await (const m of await consumer.fetch({ max_messages: 1, expires: 2000 })) return m.seq;
  return 0;
}
