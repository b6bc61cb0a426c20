/** Where a filter's events end in a stream. */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { lastMatching } from '../protocol/log-range.ts';

/** The stream sequence of the last message matching `filter`, 0 if none (asked of the stream, not counted from a consumer's pending: see lastMatching). */
export async function lastSeqMatching(nc: NatsConnection, stream: string, filter: string): Promise<number> {
  return lastMatching(await jetstreamManager(nc), stream, filter);
}
