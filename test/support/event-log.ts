/** A namespace's logs for tests that append without a hub: created as a hub creates them, read back in order. */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { loadConfig } from '../../hub/config.ts';
import { ensureStreams } from '../../hub/streams.ts';
import { decodePayload } from '../../protocol/codec.ts';
import { natsServers } from '../../protocol/nats-servers.ts';
import { type StreamKey, streamName } from '../../protocol/subjects.ts';
import { TEST_SECRET } from './test-hub.ts';

export interface LoggedEvent {
  readonly seq: number;
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly data: any;
}

/** Creates the namespace's streams and buckets exactly as a starting hub does. */
export async function createLogs(url: string, ns: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    await ensureStreams(nc, await jetstreamManager(nc), loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: TEST_SECRET, NATS_URL: url }));
  } finally {
    await nc.close();
  }
}

/** Every event of one log, in stream order (an ordered consumer from the start); `url` may list a cluster's nodes. */
export async function readLog(url: string, ns: string, stream: StreamKey): Promise<LoggedEvent[]> {
  const nc = await connect({ servers: natsServers(url) });
  try {
    const name = streamName(ns, stream);
    const total = (await (await jetstreamManager(nc)).streams.info(name)).state.messages;
    const out: LoggedEvent[] = [];
    if (total === 0) return out;
    const consumer = await jetstream(nc).consumers.get(name);
    while (out.length < total) {
      for await (const m of await consumer.fetch({ max_messages: total - out.length, expires: 2000 })) {
        out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), data: decodePayload(m.data) });
        if (out.length >= total) break;
      }
    }
    return out;
  } finally {
    await nc.close();
  }
}

/** Polls `condition` until it holds; fails after `timeoutMs` saying what it waited for. */
export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
