/**
 * WebSocketService: the seed's service, drop-in. Its sends are void and never
 * throw, as Socket.IO's `emit` was: each event is normalised to its JSON shape
 * and validated at the call (so later changes to the caller's object do not
 * leak in), then queued in a bounded outbox that appends it to JetStream with
 * many in flight, retries through NATS outages, and drains on `close()`. Online
 * counts answer at once from a cache refreshed in the background.
 */
import { randomUUID } from 'node:crypto';
import type { Registry } from 'prom-client';
import { AppendOutbox, type OutboxStats, type ServiceLogger } from './append-outbox.ts';
import type { BackoffOptions } from './backoff.ts';
import { type AppendRequest, buildAppend } from './event-append.ts';
import { HubPublisher, type HubPublisherOptions } from './hub-publisher.ts';
import { registerOutboxMetrics } from './outbox-metrics.ts';
import type { OnlineStats } from './presence.ts';
import { type Id, SeedSends, type SendOptions } from './seed-sends.ts';

export type { ServiceLogger } from './append-outbox.ts';

export interface WebSocketServiceOptions extends HubPublisherOptions {
  /** Events the outbox holds (waiting or in flight) before sends are dropped and counted. Default 100,000. */
  readonly outboxCapacity?: number;
  /** Appends in flight at once. Default 512. */
  readonly maxInFlight?: number;
  /** How long `close()` (and Nest's shutdown) waits for the outbox to drain. Default 10,000 ms. */
  readonly drainTimeoutMs?: number;
  /** How often online counts are refreshed. Default 1000 ms. */
  readonly presenceRefreshMs?: number;
  /** Delays between retries of a failing append. Default 100 ms doubling to 5 s, jittered. */
  readonly retryBackoff?: BackoffOptions;
  /** Where drops and outages are reported, one line each. Default `console`. */
  readonly logger?: ServiceLogger;
}

const NO_ONE_ONLINE: OnlineStats = Object.freeze({ users: 0, connections: 0, hubs: 0, sites: Object.freeze({}) });

/**
 * @example
 * const websocketService = await WebSocketService.connect({ servers: 'nats://127.0.0.1:4222', namespace: 'plant' });
 * websocketService.sendAlarmNotification(alarm); // void: queued, appended in the background
 * const count = websocketService.getOnlineUsersCount(); // a number, at once
 * await websocketService.close(); // drains the outbox
 */
export class WebSocketService extends SeedSends<void> {
  readonly #publisher: HubPublisher;
  readonly #outbox: AppendOutbox;
  readonly #logger: ServiceLogger;
  readonly #drainTimeoutMs: number;
  readonly #presenceRefreshMs: number;
  /** Msg ids: a per-process prefix and a counter, unique without a UUID per event. */
  readonly #msgIdPrefix = `${randomUUID()}-`;
  #msgIds = 0;
  #online: OnlineStats = NO_ONE_ONLINE;
  #presenceFailing = false;
  #presenceTimer: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  private constructor(publisher: HubPublisher, options: WebSocketServiceOptions) {
    super();
    this.#publisher = publisher;
    this.#logger = options.logger ?? console;
    this.#drainTimeoutMs = positive(options.drainTimeoutMs, 10_000, 'drainTimeoutMs');
    this.#presenceRefreshMs = positive(options.presenceRefreshMs, 1000, 'presenceRefreshMs');
    this.#outbox = new AppendOutbox(
      {
        capacity: positive(options.outboxCapacity, 100_000, 'outboxCapacity'),
        maxInFlight: positive(options.maxInFlight, 512, 'maxInFlight'),
        backoff: options.retryBackoff ?? { initialDelayMs: 100, maxDelayMs: 5000, jitter: 0.3 },
        logger: this.#logger,
        append: (append, msgId) => publisher.appendBuilt(append, msgId),
      },
      publisher.connection,
    );
  }

  /** Connects to NATS (reconnecting forever afterwards) and reads the online counts once. */
  static async connect(options: WebSocketServiceOptions): Promise<WebSocketService> {
    const publisher = await HubPublisher.connect({ ...options, name: options.name ?? 'websocket-service' });
    const service = new WebSocketService(publisher, options);
    await service.#refreshPresence();
    return service;
  }

  protected send(request: AppendRequest, options?: SendOptions): void {
    // Whatever happens here stays here: a send never throws into the caller.
    try {
      const append = buildAppend(this.#publisher.namespace, request);
      this.#outbox.enqueue(append, options?.msgId ?? this.#nextMsgId());
    } catch (e) {
      this.#outbox.dropInvalid(`${String(request?.event)} not sent: ${(e as Error).message}`);
    }
  }

  /**
   * The awaited form of every send: queued behind the void sends, in order, and
   * resolving to the event's offset once stored. Rejects with InvalidEventError
   * (nothing queued), or when the event is dropped (outbox full, refused, close).
   *
   * @example
   * const offset = await websocketService.append({ event: 'task:update', siteId: 7, data: task });
   */
  append(request: AppendRequest, options?: SendOptions): Promise<number> {
    return new Promise((resolve, reject) => {
      const append = buildAppend(this.#publisher.namespace, request);
      this.#outbox.enqueue(append, options?.msgId ?? this.#nextMsgId(), { resolve, reject });
    });
  }

  /** Unique users connected to any hub of this namespace, as of the last refresh (every `presenceRefreshMs`). */
  getOnlineUsersCount(): number {
    return this.#online.users;
  }

  /** Unique users subscribed to a site on any hub, as of the last refresh. */
  getSiteOnlineUsersCount(siteId: Id): number {
    return this.#online.sites[String(siteId)]?.users ?? 0;
  }

  /** Online users and connections, total and per site, as of the last refresh. */
  getOnlineStats(): OnlineStats {
    return this.#online;
  }

  /** Appended, retried, dropped by reason, outbox depth. */
  get stats(): OutboxStats {
    return this.#outbox.stats;
  }

  /** Adds `hub_publisher_*` metrics (appended, retried, dropped{reason}, outbox depth, in flight) to a prom-client registry. */
  registerMetrics(registry: Registry, prefix?: string): void {
    registerOutboxMetrics(registry, () => this.#outbox.stats, prefix);
  }

  /** Resolves once every event sent so far is stored or dropped; false if that took over `timeoutMs`. */
  flush(timeoutMs = this.#drainTimeoutMs): Promise<boolean> {
    return this.#outbox.flush(timeoutMs);
  }

  /** Drains the outbox (up to `drainTimeoutMs`; what is left is dropped and logged) and closes the connection. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearTimeout(this.#presenceTimer);
      await this.#outbox.close(this.#drainTimeoutMs);
      // The outbox is settled, so there is nothing left to drain; a drain would wait for a NATS that is down, reconnecting forever.
      await this.#publisher.connection.close().catch(() => {});
    })();
    return this.#closing;
  }

  /** NestJS: drain what other providers sent while the application stops… */
  async beforeApplicationShutdown(): Promise<void> {
    await this.flush();
  }

  /** …and, last, anything sent during the shutdown hooks, then close. */
  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  #nextMsgId(): string {
    return this.#msgIdPrefix + (++this.#msgIds).toString(36);
  }

  async #refreshPresence(): Promise<void> {
    try {
      this.#online = await this.#publisher.getOnlineStats();
      this.#presenceFailing = false;
    } catch (e) {
      // Before any hub ran there is no presence bucket: no one is online, and the next refresh tries again.
      if (!this.#presenceFailing) this.#logger.warn(`online counts not refreshed (${(e as Error).message}); they stay at their last value until a refresh works`);
      this.#presenceFailing = true;
    }
    if (this.#closing === undefined) {
      this.#presenceTimer = setTimeout(() => void this.#refreshPresence(), this.#presenceRefreshMs);
      // Counts are no reason to keep a process alive.
      this.#presenceTimer.unref();
    }
  }
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`WebSocketService: ${name} must be a positive integer, not ${value}`);
  return value;
}
