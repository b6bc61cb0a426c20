/**
 * Reads every hub's presence entry. Keys are listed from the bucket's stream
 * info (one request) rather than `kv.keys()`, whose consumer could wait forever
 * for a pending count that entries written meanwhile kept above zero. Shared by
 * HubPublisher and the hub; not part of the browser entry.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { HubPresence } from './presence.ts';
import { presenceBucket } from './subjects.ts';

export async function readHubPresence(jsm: JetStreamManager, kv: KV, ns: string, skipHubId?: string): Promise<HubPresence[]> {
  const bucket = presenceBucket(ns);
  const prefix = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
  const entries: HubPresence[] = [];
  for (const subject of Object.keys(info.state.subjects ?? {})) {
    const key = subject.slice(prefix.length);
    if (key === skipHubId) continue;
    const e = await kv.get(key);
    // Deleted or expired entries (a hub that stopped) have no value.
    if (e !== null && e.operation === 'PUT' && e.length > 0) entries.push(e.json<HubPresence>());
  }
  return entries;
}
