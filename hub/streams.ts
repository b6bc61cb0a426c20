/**
 * Creates or updates, idempotently, the streams and KV buckets of a namespace.
 * The site log is the source of truth: kept whole unless the operator bounds it.
 */
import { DiscardPolicy, JetStreamApiError, type JetStreamManager, RetentionPolicy, StorageType, type StreamConfig } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { cursorBucket, presenceBucket, recoveryBucket, STREAM_KEYS, type StreamKey, streamName, streamSubjects } from '../protocol/subjects.ts';
import type { HubConfig } from './config.ts';
import { PRESENCE_RETAIN_MS } from './presence-entry.ts';

export type Epochs = Readonly<Record<StreamKey, string>>;

export async function ensureStreams(nc: NatsConnection, jsm: JetStreamManager, config: HubConfig): Promise<{ epochs: Epochs; presence: KV; cursors: KV; recovery: KV }> {
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
  const presence = await kvm.create(presenceBucket(config.namespace), { history: 1, ttl: PRESENCE_RETAIN_MS });
  await keepMaxAge(jsm, `KV_${presenceBucket(config.namespace)}`, PRESENCE_RETAIN_MS);
  // Acked positions outlive the notifications they point into.
  const cursors = await kvm.create(cursorBucket(config.namespace), { history: 1, ttl: config.notificationRetentionMs * 2 });
  const recovery = await kvm.create(recoveryBucket(config.namespace), { history: 1, ttl: config.socketIoRecoveryMs });
  return { epochs: Object.freeze(epochs), presence, cursors, recovery };
}

/**
 * `kvm.create` leaves an existing bucket as it is: a bucket made by an older hub (presence entries
 * expiring after 30 s, when each hub rewrote its one entry every 10 s) gets the max age this one needs.
 */
async function keepMaxAge(jsm: JetStreamManager, stream: string, maxAgeMs: number): Promise<void> {
  const info = await jsm.streams.info(stream);
  if (info.config.max_age !== nanos(maxAgeMs)) await jsm.streams.update(stream, { ...info.config, max_age: nanos(maxAgeMs) });
}

/** The epoch is the stream's creation time: recreating a stream changes it. */
function epochOf(created: string): string {
  return Date.parse(created).toString(36);
}
