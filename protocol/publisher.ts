/**
 * HubPublisher: the seed's WebSocketService for backend services. Every send
 * appends a domain event to JetStream and resolves to its offset; hubs deliver it.
 * Node only (NATS TCP transport): browsers never import this entry.
 */
import { randomUUID } from 'node:crypto';
import { jetstream, type JetStreamClient, JetStreamApiError, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import type { SystemLevel } from './catalogue.ts';
import { type AppendRequest, buildAppend } from './event-append.ts';
import { appendToLog } from './log-append.ts';
import { mergePresence, type OnlineStats } from './presence.ts';
import { readHubPresence } from './presence-read.ts';
import { isValidNamespace, presenceBucket, streamName } from './subjects.ts';

export interface HubPublisherOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | string[];
  /** The hub's `HUB_NAMESPACE`. Default `plant`. */
  readonly namespace?: string;
  /** How long one append waits for JetStream's acknowledgement. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Connection name shown in NATS monitoring. */
  readonly name?: string;
}

/** Per-call options, after the seed's arguments. */
export interface SendOptions {
  /**
   * Idempotency key (`Nats-Msg-Id`): an append retried with the same id within the
   * stream's duplicate window is stored once and resolves to the first offset.
   * Default: a fresh id per call.
   */
  readonly msgId?: string;
}

/** An append JetStream refused, or that did not get an answer. */
export class AppendError extends Error {
  override readonly name = 'AppendError';
}

/**
 * @example
 * const pub = await HubPublisher.connect({ servers: 'nats://127.0.0.1:4222' });
 * const offset = await pub.sendTaskUpdate(7, { id: 42, status: 'loading' });
 * await pub.close();
 */
export class HubPublisher {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #ns: string;
  readonly #timeoutMs: number;
  #presence: Promise<KV> | undefined;
  #jsm: Promise<JetStreamManager> | undefined;

  private constructor(nc: NatsConnection, ns: string, timeoutMs: number) {
    this.#nc = nc;
    this.#js = jetstream(nc, { timeout: timeoutMs });
    this.#ns = ns;
    this.#timeoutMs = timeoutMs;
  }

  static async connect(options: HubPublisherOptions): Promise<HubPublisher> {
    const ns = options.namespace ?? 'plant';
    if (!isValidNamespace(ns)) throw new TypeError(`namespace ${JSON.stringify(ns)} must match [A-Za-z0-9_-]{1,32}`);
    const nc = await connect({ servers: options.servers, name: options.name ?? 'hub-publisher', maxReconnectAttempts: -1 });
    return new HubPublisher(nc, ns, options.timeoutMs ?? 5000);
  }

  /** Appends a new alarm; its site is `alarm.siteId` or `alarm.site_id`. */
  sendAlarmNotification(alarm: object, options?: SendOptions): Promise<number> {
    return this.append({ event: 'alarm:new', data: alarm }, options);
  }

  sendAlarmUpdate(alarm: object, options?: SendOptions): Promise<number> {
    return this.append({ event: 'alarm:update', data: alarm }, options);
  }

  /** A private notification: only that user's sockets receive it. */
  sendUserNotification(userId: string | number, notification: unknown, options?: SendOptions): Promise<number> {
    return this.append({ event: 'notification:new', userId, data: notification }, options);
  }

  /** A notification every connected user receives. */
  sendGlobalNotification(notification: unknown, options?: SendOptions): Promise<number> {
    return this.append({ event: 'notification:new', data: notification }, options);
  }

  sendProductionUpdate(siteId: string | number, data: unknown, options?: SendOptions): Promise<number> {
    return this.append({ event: 'production:update', siteId, data }, options);
  }

  sendTaskUpdate(siteId: string | number, task: unknown, options?: SendOptions): Promise<number> {
    return this.append({ event: 'task:update', siteId, data: task }, options);
  }

  sendOrderUpdate(siteId: string | number, order: unknown, options?: SendOptions): Promise<number> {
    return this.append({ event: 'order:update', siteId, data: order }, options);
  }

  sendVehicleUpdate(siteId: string | number, vehicle: unknown, options?: SendOptions): Promise<number> {
    return this.append({ event: 'vehicle:update', siteId, data: vehicle }, options);
  }

  sendInventoryUpdate(siteId: string | number, inventory: unknown, options?: SendOptions): Promise<number> {
    return this.append({ event: 'inventory:update', siteId, data: inventory }, options);
  }

  sendDashboardUpdate(siteId: string | number, data: unknown, options?: SendOptions): Promise<number> {
    return this.append({ event: 'dashboard:update', siteId, data }, options);
  }

  /**
   * Domain-event shorthands (protocol/domain-events.ts): the seed's payloads with the
   * `type` the projections fold. Tasks, orders and vehicles need none: their seed
   * updates carry `{id, status}`.
   */
  sendBatchStarted(siteId: string | number, batch: { id: string | number; volume?: number }, options?: SendOptions): Promise<number> {
    return this.sendProductionUpdate(siteId, { type: 'batch_started', batch }, options);
  }

  /** `batch.volume` is what the batch produced (m³); it adds to today's production. */
  sendBatchCompleted(siteId: string | number, batch: { id: string | number; volume: number }, options?: SendOptions): Promise<number> {
    return this.sendProductionUpdate(siteId, { type: 'batch_completed', batch }, options);
  }

  /**
   * `inventory:update {type, material, quantity}`: `stock_in` and `stock_out` take a
   * quantity ≥ 0, `adjustment` a signed correction. `material.threshold` arms the low-stock alarm.
   */
  sendStockMovement(siteId: string | number, type: 'stock_in' | 'stock_out' | 'adjustment', material: { id: string | number; name?: string; unit?: string; threshold?: number }, quantity: number, options?: SendOptions): Promise<number> {
    return this.sendInventoryUpdate(siteId, { type, material, quantity }, options);
  }

  /** `alarm:update` with `status: 'acknowledged'`. */
  sendAlarmAcknowledged(alarm: object, options?: SendOptions): Promise<number> {
    return this.sendAlarmUpdate({ ...alarm, status: 'acknowledged' }, options);
  }

  /** `alarm:update` with `status: 'cleared'`: the alarm is no longer open. */
  sendAlarmCleared(alarm: object, options?: SendOptions): Promise<number> {
    return this.sendAlarmUpdate({ ...alarm, status: 'cleared' }, options);
  }

  /** A `system:message {message, level, timestamp}` to everyone. */
  broadcastSystemMessage(message: string, level: SystemLevel = 'info', options?: SendOptions): Promise<number> {
    return this.append({ event: 'system:message', data: { message, level, timestamp: new Date().toISOString() } }, options);
  }

  /** Unique users connected to any hub of this namespace. */
  async getOnlineUsersCount(): Promise<number> {
    return (await this.getOnlineStats()).users;
  }

  /** Unique users subscribed to a site on any hub. */
  async getSiteOnlineUsersCount(siteId: string | number): Promise<number> {
    return (await this.getOnlineStats()).sites[String(siteId)]?.users ?? 0;
  }

  /** Cluster-wide online users and connections, total and per site. */
  async getOnlineStats(): Promise<OnlineStats> {
    const kv = await this.#presenceBucket();
    this.#jsm ??= jetstreamManager(this.#nc);
    return mergePresence(await readHubPresence(await this.#jsm, kv, this.#ns));
  }

  /**
   * Appends any catalogue event; the seed-named methods above are shorthands.
   * Throws InvalidEventError for bad input (nothing appended) and AppendError when
   * JetStream refuses or does not answer (safe to retry with the same msgId).
   */
  async append(request: AppendRequest, options?: SendOptions): Promise<number> {
    const append = buildAppend(this.#ns, request);
    try {
      return (await appendToLog(this.#js, append, options?.msgId ?? randomUUID(), this.#timeoutMs)).seq;
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

  #presenceBucket(): Promise<KV> {
    this.#presence ??= new Kvm(this.#nc).open(presenceBucket(this.#ns));
    return this.#presence;
  }
}
