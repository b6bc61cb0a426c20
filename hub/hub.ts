/**
 * A running hub: the uWS server (WebSocket gateway and HTTP API) and its NATS
 * side (streams, fan-out consumer, presence). Stateless beyond its sockets.
 */
import { randomUUID } from 'node:crypto';
import { type JetStreamClient, jetstream, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import { CloseCode } from '../protocol/errors.ts';
import { Authenticator } from './authenticator.ts';
import { type CommandBackend, Commands } from './commands.ts';
import { CursorStore } from './cursor-store.ts';
import type { HubConfig } from './config.ts';
import { EventPermissions } from './event-permissions.ts';
import { ExportSlots } from './export-slots.ts';
import { FanOut } from './fan-out.ts';
import { Gateway } from './gateway.ts';
import { mountEventsApi } from './events-api.ts';
import { mountHttpApi } from './http-api.ts';
import { HttpRateLimits, rateLimited } from './http-rate-limits.ts';
import { createLogger, type Logger } from './logger.ts';
import { HubMetrics } from './metrics.ts';
import { BufferWatch } from './buffer-watch.ts';
import { CriticalTopics } from './critical-topics.ts';
import { RedeliveryQueue } from './redelivery-queue.ts';
import { SessionDeadlines } from './session-deadlines.ts';
import { type Clock, systemClock } from './clock.ts';
import { connectWithRetry, natsLinkUp } from './nats-link.ts';
import { PresenceTracker } from './presence-tracker.ts';
import { JetStreamLog } from './jetstream-log.ts';
import { Replayer } from './replayer.ts';
import type { SessionContext } from './session-context.ts';
import { ensureStreams } from './streams.ts';
import { RecoverySessions } from './recovery-sessions.ts';
import { mountSchemaApi } from './schema-api.ts';
import { type SocketIoBackend, SocketIoFace } from './socketio-face.ts';
import { sinceStart, type StartProgress } from './start-progress.ts';
import { SubscriberRegistry } from './subscriber-registry.ts';
import { TopicWriter } from './topic-writer.ts';
import { uws, uwsRuntime } from './uws.ts';
import { VerifiedTokens } from './verified-tokens.ts';
import { type HubViews, mountViewsApi } from './views-api.ts';

/** The views and extra routes, and the start's progress for /healthz and the log (else the hub says only "NATS"). */
export interface HubOptions extends HubViews {
  readonly progress?: StartProgress;
  /** Time for token expiry and warnings, idle sockets and redelivery; tests pass a clock they move. Default: the system clock. */
  readonly clock?: Clock;
}

export class HubStartError extends Error {
  override readonly name = 'HubStartError';
}

/**
 * @example
 * const hub = await Hub.start(loadConfig({ ...process.env, NATS_URL: 'nats://127.0.0.1:4222', HUB_JWT_SECRET: secret }));
 * console.log(`listening on ${hub.port}`);
 * await hub.stop();
 */
export class Hub {
  readonly id = randomUUID();
  readonly config: HubConfig;
  readonly log: Logger;
  readonly #app: TemplatedApp;
  readonly #gateway: Gateway;
  readonly #presence: PresenceTracker;
  readonly #abort = new AbortController();
  #listenSocket: us_listen_socket | undefined;
  #port = 0;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  #jsm: JetStreamManager | undefined;
  #fanOut: FanOut | undefined;
  #backend: CommandBackend | undefined;
  readonly #socketIo: SocketIoFace | undefined;
  #socketIoBackend: SocketIoBackend | undefined;
  readonly metrics = new HubMetrics();
  readonly #ctx: SessionContext;
  readonly #progress: StartProgress | undefined;

  #siteEpoch: string | undefined;

  private constructor(config: HubConfig, log: Logger, auth: Authenticator, options: HubOptions) {
    this.config = config;
    this.log = log;
    this.#progress = options.progress;
    this.#app = uws.App();
    this.#presence = new PresenceTracker(this.id, log, config.presenceTtlMs);
    const clock = options.clock ?? systemClock;
    const onRedeliveryError = (e: Error) => log.error({ err: e.stack }, 'critical redelivery failed for a session');
    const redelivery = new RedeliveryQueue(onRedeliveryError, clock);
    this.#ctx = {
      config,
      metrics: this.metrics,
      critical: new CriticalTopics(redelivery, config.ackTimeoutMs),
      slowRegistry: new SubscriberRegistry(),
      permissions: new EventPermissions(config.eventRoles),
      redelivery,
      clock,
      deadlines: new SessionDeadlines(config, this.metrics, clock, (e) => log.error({ err: e.stack }, 'session deadline check failed')),
      buffers: new BufferWatch(config, this.metrics),
      catchUp: () => this.#backend?.replayer,
      livePosition: (stream) => this.#fanOut?.recent(stream)?.last ?? 0,
      onRedeliveryError,
      writer: new TopicWriter(this.#app, config.writeDelayMs, clock, config.writeMaxFrames),
    };
    const commands = new Commands(config, this.#presence, auth, log, () => this.#backend);
    const ready = () => this.#backend !== undefined && !this.#abort.signal.aborted;
    this.#gateway = new Gateway(this.#ctx, auth, commands, this.#presence, log, ready);
    this.#gateway.attach(this.#app);
    if (config.socketIo) this.#socketIo = new SocketIoFace(this.#app, this.#ctx, auth, this.#presence, log, () => this.#socketIoBackend, ready);
    // Every /api/* route is mounted on `api`: rate-limited per address and per token (http-rate-limits.ts).
    const api = rateLimited(this.#app, new HttpRateLimits(config.httpLimits, config.serviceToken, new VerifiedTokens(auth)), config.allowedOrigins);
    const exportSlots = new ExportSlots(config.httpLimits.exportsPerToken);
    mountViewsApi(api, { config, log, auth, views: options, exportSlots, permissions: this.#ctx.permissions, nc: () => this.#nc, siteEpoch: () => this.#siteEpoch });
    mountEventsApi(api, { config, log, auth, exportSlots, permissions: this.#ctx.permissions, nc: () => this.#nc });
    mountSchemaApi(api, config);
    mountHttpApi(api, {
      config,
      log,
      metrics: this.metrics,
      presence: this.#presence,
      uws: uwsRuntime,
      js: () => this.#js,
      natsConnected: () => natsLinkUp(this.#nc),
      jetStreamReachable: () => this.#jetStreamReachable(),
      collectMetrics: () => this.#collectMetrics(),
      ready,
      waitingFor: () => this.#progress?.waitingFor() ?? (this.#backend === undefined ? { nats: `NATS at ${config.natsUrl}` } : {}),
    });
  }

  /** Starts listening, then connects to NATS (retrying until it answers) and starts delivering; `views` adds the views API. */
  static async start(config: HubConfig, log: Logger = createLogger(config.logLevel), views: HubOptions = {}): Promise<Hub> {
    const hub = await Hub.listen(config, log, views);
    await hub.connect();
    return hub;
  }

  /**
   * Opens the port and nothing else: `/healthz` answers 503 with what the hub waits for, and sockets are
   * refused with 4503 (clients retry) until {@link connect} has joined NATS. A person sees the port at once.
   */
  static async listen(config: HubConfig, log: Logger = createLogger(config.logLevel), options: HubOptions = {}): Promise<Hub> {
    if (config.natsUrl === undefined) throw new HubStartError('no NATS URL: set NATS_URL, or start the hub with hub/main.ts which launches an embedded nats-server');
    const hub = new Hub(config, log, await Authenticator.create(config.auth, options.clock), options);
    await hub.#listen();
    if (uwsRuntime === 'fallback') log.warn('uWebSockets.js native binary did not load: running on its slow ws fallback');
    return hub;
  }

  /** Connects to NATS (retrying until it answers, or until {@link stop}), ensures the streams, starts delivering. Stops the hub if it fails. */
  async connect(): Promise<void> {
    const { config, log } = this;
    try {
      await this.#connectNats(config.natsUrl!);
    } catch (e) {
      await this.stop();
      throw e;
    }
    log.info({ port: this.port, namespace: config.namespace, uws: uwsRuntime, socketIo: config.socketIo, sinceStartMs: sinceStart() }, config.socketIo ? 'hub ready: WebSocket at /ws, Socket.IO at /socket.io/ (namespace /ws)' : 'hub ready: WebSocket at /ws');
  }

  get port(): number {
    return this.#port;
  }

  /** Live sessions on this hub, native and Socket.IO. */
  get connections(): number {
    return this.#gateway.sessions.size + (this.#socketIo?.connections ?? 0);
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    if (this.#listenSocket !== undefined) uws.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = undefined;
    this.#gateway.closeAll(CloseCode.HubUnavailable, 'hub stopping: reconnect and resume');
    this.#ctx.redelivery.stop();
    this.#ctx.deadlines.stop();
    this.#ctx.writer.close();
    await this.#socketIo?.close();
    await this.#fanOut?.stop();
    await this.#backend?.cursors.close();
    await this.#presence.close();
    await this.#nc?.drain().catch(() => {});
    // Closing the listen socket leaves open HTTP keep-alive connections (browsers' long-polling) with this app:
    // they would keep talking to a stopped hub while a new one listens on the port. uWS has `close()`; its typings lag.
    (this.#app as unknown as { close(): void }).close();
  }

  /** Listens, retrying briefly: a hub restarting on its port may find the old socket not yet released. */
  async #listen(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const socket = await new Promise<us_listen_socket | false>((resolve) => this.#app.listen(this.config.host, this.config.port, resolve));
      if (socket !== false) {
        this.#listenSocket = socket;
        this.#port = uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
        return;
      }
      if (attempt === 20) throw new HubStartError(`cannot listen on ${this.config.host}:${this.config.port} (port in use? set HUB_PORT)`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async #connectNats(url: string): Promise<void> {
    const progress = this.#progress;
    progress?.begin('nats', `NATS at ${url}`);
    const nc = await connectWithRetry(url, `hub-${this.config.namespace}-${this.id.slice(0, 8)}`, this.log, this.#abort.signal);
    this.#nc = nc;
    progress?.end('nats');
    progress?.begin('streams', `the JetStream streams and consumers of namespace ${this.config.namespace}`);
    this.#jsm = await jetstreamManager(nc);
    this.#js = jetstream(nc);
    const { epochs, presence, cursors, recovery } = await ensureStreams(nc, this.#jsm, this.config);
    this.#siteEpoch = epochs.site;
    await this.#presence.attach(nc, this.#js, this.#jsm, presence, this.config.namespace);
    // The log's live tails get a client of their own with a short request timeout: while a cluster elects
    // a stream leader, creating a consumer gets no answer, and retrying every 2 s rather than every 5 s
    // brings live delivery back sooner.
    const events = new JetStreamLog(this.#js, jetstream(nc, { timeout: 2000 }), this.#jsm, this.config.namespace, epochs, this.log);
    this.#fanOut = new FanOut(events, this.#ctx, this.log, this.#socketIo === undefined ? [] : [this.#socketIo]);
    await this.#fanOut.start();
    const replayer = new Replayer(events, this.config.namespace, this.#fanOut, this.metrics);
    this.#socketIoBackend = { fanOut: this.#fanOut, replayer, sessions: new RecoverySessions(recovery, this.log) };
    this.#backend = { events, cursors: new CursorStore(cursors, this.log, this.config.cursorFlushMs), replayer };
    this.#socketIo?.ready();
    progress?.end('streams', 'streams and consumers in place');
  }

  async #collectMetrics(): Promise<void> {
    const connected = natsLinkUp(this.#nc);
    this.metrics.natsConnected.set(connected ? 1 : 0);
    this.metrics.users.set(this.#presence.localUsers);
    if (connected && this.#fanOut !== undefined) {
      for (const [stream, lag] of Object.entries(await this.#fanOut.lag())) this.metrics.consumerLag.set({ stream }, lag);
    }
  }

  async #jetStreamReachable(): Promise<boolean> {
    try {
      await this.#jsm?.getAccountInfo();
      return this.#jsm !== undefined;
    } catch {
      return false;
    }
  }
}
