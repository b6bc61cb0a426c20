/** Removes a bench namespace's streams and every KV bucket (presence, cursors, Socket.IO recovery) from the shared nats-server after a run. */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { namespaceBuckets, STREAM_KEYS, streamName } from '../../protocol/subjects.ts';

export async function dropNamespace(natsUrl: string, namespace: string): Promise<void> {
  const nc = await connect({ servers: natsUrl, timeout: 3000 });
  try {
    const jsm = await jetstreamManager(nc);
    for (const key of STREAM_KEYS) await jsm.streams.delete(streamName(namespace, key)).catch(() => {});
    for (const bucket of namespaceBuckets(namespace)) await jsm.streams.delete(`KV_${bucket}`).catch(() => {});
  } finally {
    await nc.close();
  }
}
