/**
 * Creates or updates, idempotently, the streams and KV buckets of a namespace.
 * The site log is the source of truth: kept whole unless the operator bounds it.
 * Every stream and bucket gets HUB_STREAM_REPLICAS replicas (3 on a 3-node cluster:
 * an append is acknowledged once a majority stored it, so losing any one node loses
 * nothing); raising the setting later scales existing ones up on the next start.
 */
import { DiscardPolicy, JetStreamApiError, type JetStreamManager, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { epochOf } from '../protocol/stream-epoch.ts';
import { cursorBucket, presenceBucket, recoveryBucket, STREAM_KEYS, type StreamKey, streamName, streamSubjects } from '../protocol/subjects.ts';
import type { HubConfig } from './config.ts';
import { PRESENCE_RETAIN_MS } from './presence-entry.ts';

export type Epochs = Readonly<Record<StreamKey, string>>;

/** NATS cannot place the replicas HUB_STREAM_REPLICAS asks for (one server, or fewer nodes than replicas). */
export class StreamReplicasError extends Error {
  override readonly name = 'StreamReplicasError';
}

export async function ensureStreams(nc: NatsConnection, jsm: JetStreamManager, config: HubConfig): Promise<{ epochs: Epochs; presence: KV; cursors: KV; recovery: KV }> {
  try {
    return await ensureAll(nc, jsm, config);
  } catch (e) {
    if (config.streamReplicas > 1 && e instanceof JetStreamApiError && /replica|peers|insufficient resources/i.test(e.message)) {
      throw new StreamReplicasError(`HUB_STREAM_REPLICAS=${config.streamReplicas}: NATS refused (${e.message}); a single nats-server takes 1, ${config.streamReplicas} needs a JetStream cluster of at least ${config.streamReplicas} nodes`, { cause: e });
    }
    throw e;
  }
}

async function ensureAll(nc: NatsConnection, jsm: JetStreamManager, config: HubConfig): Promise<{ epochs: Epochs; presence: KV; cursors: KV; recovery: KV }> {
  const epochs = {} as Record<StreamKey, string>;
  for (const key of STREAM_KEYS) {
    const wanted: Partial<StreamConfig> & { name: string } = {
      name: streamName(config.namespace, key),
      subjects: [streamSubjects(config.namespace, key)],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: key === 'site' ? 0 : nanos(config.notificationRetentionMs),
      max_bytes: key === 'site' && config.siteStreamMaxBytes > 0 ? config.siteStreamMaxBytes : -1,
      duplicate_window: nanos(120_000),
      num_replicas: config.streamReplicas,
    };
    let created: string;
    try {
      const info = await jsm.streams.info(wanted.name);
      created = (await jsm.streams.update(wanted.name, { ...info.config, ...wanted })).created;
    } catch (e) {
      // 404: the stream does not exist yet.
      if (!(e instanceof JetStreamApiError) || e.status !== 404) throw e;
      created = (await jsm.streams.add(wanted)).created;
    }
    epochs[key] = epochOf(created);
  }
  const kvm = new Kvm(nc);
  const replicas = config.streamReplicas;
  const presence = await kvm.create(presenceBucket(config.namespace), { history: 1, ttl: PRESENCE_RETAIN_MS, replicas });
  // Acked positions outlive the notifications they point into.
  const cursors = await kvm.create(cursorBucket(config.namespace), { history: 1, ttl: config.notificationRetentionMs * 2, replicas });
  const recovery = await kvm.create(recoveryBucket(config.namespace), { history: 1, ttl: config.socketIoRecoveryMs, replicas });
  await keepBucketConfig(jsm, `KV_${presenceBucket(config.namespace)}`, { num_replicas: replicas, max_age: nanos(PRESENCE_RETAIN_MS) });
  for (const bucket of [cursorBucket(config.namespace), recoveryBucket(config.namespace)]) await keepBucketConfig(jsm, `KV_${bucket}`, { num_replicas: replicas });
  return { epochs: Object.freeze(epochs), presence, cursors, recovery };
}

/**
 * `kvm.create` opens an existing bucket as it is: a bucket made before replicas were raised, or by an
 * older hub (presence entries expiring after 30 s, when each hub rewrote one entry every 10 s), gets
 * the settings this hub needs here.
 */
async function keepBucketConfig(jsm: JetStreamManager, stream: string, wanted: { readonly num_replicas: number; readonly max_age?: number }): Promise<void> {
  const info = await jsm.streams.info(stream);
  const changed = info.config.num_replicas !== wanted.num_replicas || (wanted.max_age !== undefined && info.config.max_age !== wanted.max_age);
  if (changed) await jsm.streams.update(stream, { ...info.config, ...wanted });
}
