/**
 * Simulated hubs for presence: the hub's own PresenceTracker, each on a NATS
 * connection of its own, fed connects and subscriptions directly instead of
 * through sockets, so 100,000 users cost a loop, not 100,000 WebSockets. The
 * bucket, the watch and the writes are the real ones.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { loadConfig } from '../hub/config.ts';
import { createLogger } from '../hub/logger.ts';
import { PresenceTracker } from '../hub/presence-tracker.ts';
import { ensureStreams } from '../hub/streams.ts';
import { presenceBucket } from '../protocol/subjects.ts';

export interface SimulatedHubOptions {
  readonly ttlMs?: number;
  /** Shard split size (bytes); the hub's default when absent. */
  readonly splitBytes?: number;
  readonly logLevel?: string;
}

export class SimulatedHub {
  readonly tracker: PresenceTracker;
  readonly #nc: NatsConnection;

  private constructor(tracker: PresenceTracker, nc: NatsConnection) {
    this.tracker = tracker;
    this.#nc = nc;
  }

  /** A hub of namespace `ns` (its streams and buckets must exist: `ensureNamespace`), counting once it has read the bucket. */
  static async start(url: string, ns: string, options: SimulatedHubOptions = {}): Promise<SimulatedHub> {
    const nc = await connect({ servers: url, name: 'presence-sim' });
    const js = jetstream(nc);
    const kv = await new Kvm(nc).open(presenceBucket(ns));
    const tracker = new PresenceTracker(randomUUID(), createLogger(options.logLevel ?? 'silent', 'presence-sim'), options.ttlMs, options.splitBytes);
    await tracker.attach(nc, js, await jetstreamManager(nc), kv, ns);
    await tracker.ready;
    return new SimulatedHub(tracker, nc);
  }

  /** Clean shutdown, as a stopping hub does: its users leave the counts at once. */
  async stop(): Promise<void> {
    await this.tracker.close();
    await this.#nc.close();
  }

  /** As a hub killed with SIGKILL: the connection drops, nothing is deleted; the others must expire it. */
  async crash(): Promise<void> {
    await this.#nc.close();
    await this.tracker.close();
  }
}

/** Creates the namespace's streams and buckets, as a hub's start does. */
export async function ensureNamespace(url: string, ns: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    await ensureStreams(nc, await jetstreamManager(nc), loadConfig({ HUB_NAMESPACE: ns, HUB_JWT_SECRET: 'x'.repeat(32), NATS_URL: url }));
  } finally {
    await nc.close();
  }
}
