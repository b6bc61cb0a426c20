/**
 * HubPublisher: the seed's WebSocketService methods for backend services that
 * want each offset. Every send appends a domain event to JetStream and resolves
 * to its offset (or rejects); hubs deliver it.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, type JetStreamClient, JetStreamApiError } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { type Append, type AppendRequest, buildAppend } from './event-append.ts';
import { appendToLog } from './log-append.ts';
import { natsServers } from './nats-servers.ts';
import type { OnlineStats } from './presence.ts';
import { requestOnlineStats } from './presence-read.ts';
import { SeedSends, type SendOptions } from './seed-sends.ts';
import { isValidNamespace, streamName } from './subjects.ts';

export interface HubPublisherOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`; a cluster's nodes as a list or one comma-separated string (`NATS_URL` as it is). */
  readonly servers: string | string[];
  /** The hub's `HUB_NAMESPACE`. Default `plant`. */
  readonly namespace?: string;
  /** How long one append waits for JetStream's acknowledgement. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Connection name shown in NATS monitoring. */
  readonly name?: string;
}

/** An append JetStream refused, or that did not get an answer; `cause` is nats.js's error. */
export class AppendError extends Error {
  override readonly name = 'AppendError';
}

/**
 * @example
 * const pub = await HubPublisher.connect({ servers: 'nats://127.0.0.1:4222' });
 * const offset = await pub.sendTaskUpdate(7, { id: 42, status: 'loading' });
 * await pub.close();
 */
export class HubPublisher extends SeedSends<Promise<number>> {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #ns: string;
  readonly #timeoutMs: number;

  private constructor(nc: NatsConnection, ns: string, timeoutMs: number) {
    super();
    this.#nc = nc;
    this.#js = jetstream(nc, { timeout: timeoutMs });
    this.#ns = ns;
    this.#timeoutMs = timeoutMs;
  }

  static async connect(options: HubPublisherOptions): Promise<HubPublisher> {
    const ns = checkedNamespace(options.namespace);
    // Reconnects forever, round every listed (and advertised) node: a producer outlives any NATS restart.
    // noAsyncTraces: no Error (and stack capture) made per append request; the errors keep their messages.
    const nc = await connect({ servers: natsServers(options.servers), name: options.name ?? 'hub-publisher', maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true });
    return new HubPublisher(nc, ns, options.timeoutMs ?? 5000);
  }

  /** The namespace appends go to. */
  get namespace(): string {
    return this.#ns;
  }

  /** The NATS connection (its `status()` tells reconnects); closed by `close()`. */
  get connection(): NatsConnection {
    return this.#nc;
  }

  /** Unique users connected to any hub of this namespace. */
  async getOnlineUsersCount(): Promise<number> {
    return (await requestOnlineStats(this.#nc, this.#ns, this.#timeoutMs, [])).users;
  }

  /** Unique users subscribed to a site on any hub. */
  async getSiteOnlineUsersCount(siteId: string | number): Promise<number> {
    const site = String(siteId);
    return (await requestOnlineStats(this.#nc, this.#ns, this.#timeoutMs, [site])).sites[site]?.users ?? 0;
  }

  /**
   * Cluster-wide online users and connections, total and per site: one request, answered by
   * any hub of the namespace (all zero when none runs). Rejects when no hub answers in `timeoutMs`.
   */
  async getOnlineStats(): Promise<OnlineStats> {
    return requestOnlineStats(this.#nc, this.#ns, this.#timeoutMs);
  }

  /**
   * Appends any catalogue event; the seed-named methods are shorthands.
   * Throws InvalidEventError for bad input (nothing appended) and AppendError when
   * JetStream refuses or does not answer (safe to retry with the same msgId).
   */
  async append(request: AppendRequest, options?: SendOptions): Promise<number> {
    return this.appendBuilt(buildAppend(this.#ns, request), options?.msgId ?? randomUUID());
  }

  /** Appends an event `buildAppend` made; what `append` and WebSocketService's outbox share. */
  async appendBuilt(append: Append, msgId: string): Promise<number> {
    try {
      return (await appendToLog(this.#js, append, msgId, { timeoutMs: this.#timeoutMs })).seq;
    } catch (e) {
      // nats.js reports "no stream stores this subject" as JetStreamNotEnabled, the no-responders error as its cause.
      const noStream = e instanceof JetStreamApiError || /no responders|503/i.test(`${String(e)} ${String((e as Error).cause)}`);
      const hint = noStream ? ` (is a hub running with namespace "${this.#ns}"? it creates stream ${streamName(this.#ns, append.stream)})` : '';
      throw new AppendError(`append of ${append.event} to ${append.subject} failed: ${(e as Error).message}${hint}`, { cause: e });
    }
  }

  async close(): Promise<void> {
    await this.#nc.drain();
  }

  protected send(request: AppendRequest, options?: SendOptions): Promise<number> {
    return this.append(request, options);
  }
}

function checkedNamespace(namespace: string | undefined): string {
  const ns = namespace ?? 'plant';
  if (!isValidNamespace(ns)) throw new TypeError(`namespace ${JSON.stringify(ns)} must match [A-Za-z0-9_-]{1,32}`);
  return ns;
}
