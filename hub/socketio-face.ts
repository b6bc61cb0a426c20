/**
 * The Socket.IO face: the seed's front-ends connect unchanged (socket.io-client,
 * default transports, namespace `/ws`, `auth: {token}`) to the hub's own uWS app,
 * beside the native protocol. The `socket.io` library speaks Engine.IO (polling,
 * upgrade, heartbeats); this face adds what the seed's gateway did (auth,
 * subscriptions as rooms, the seed's replies) and what it never had: every event
 * comes from the hub's one consumer per log, and connection state recovery is
 * answered from the log, so a client that was away for seconds or hours, on this
 * hub or another, gets every event it missed, once, in order.
 */
import type { Namespace, Socket } from 'socket.io';
import { Server } from 'socket.io';
import type { TemplatedApp, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { CloseCode } from '../protocol/errors.ts';
import { STREAM_KEYS } from '../protocol/subjects.ts';
import { type Authenticator, AuthError } from './authenticator.ts';
import { bearerToken } from './bearer-token.ts';
import type { FanOut } from './fan-out.ts';
import type { Grant } from './grant.ts';
import type { LiveEvent } from './live-event.ts';
import type { Logger } from './logger.ts';
import type { PresenceTracker } from './presence-tracker.ts';
import { originAllowed } from './cors.ts';
import { RateLimiter } from './rate-limiter.ts';
import type { RecoverySessions } from './recovery-sessions.ts';
import { formatPosition } from './recovery-position.ts';
import type { Replayer } from './replayer.ts';
import type { SessionContext } from './session-context.ts';
import { hubAdapter, type LogsState } from './socketio-adapter.ts';
import { SocketIoSession } from './socketio-session.ts';
import { OverrunLook, uwsBackpressureLimit } from './uws-backpressure.ts';

/** The seed's namespace: `io('ws://host:3000/ws')`. */
export const SOCKETIO_NAMESPACE = '/ws';

/** The NATS side, present once the hub is connected. */
export interface SocketIoBackend {
  readonly fanOut: FanOut;
  readonly replayer: Replayer;
  readonly sessions: RecoverySessions;
}

/** What each SocketIoSession needs from its face. */
export interface FaceContext {
  readonly ctx: SessionContext;
  readonly auth: Authenticator;
  readonly presence: PresenceTracker;
  readonly log: Logger;
  backend(): SocketIoBackend | undefined;
  /** Where live delivery stands now, as a recovery offset. */
  position(): string;
  /** Resolves when this uWS socket's buffer has drained below the replay budget (or soon, as a fallback). */
  drained(ws: object): Promise<void>;
}

/** How often sockets are checked against the hard limit: the memory a stalled socket can take is its share of this long's traffic. */
const SWEEP_MS = 250;

/** How long the logs' first offsets are reused by recoveries (one at the retention boundary may miss what aged out meanwhile). */
const LOGS_CACHE_MS = 1000;

/** How long a connection waits for a starting hub to reach NATS before its transport is closed (the client then retries). */
const READY_WAIT_MS = 5000;

export class SocketIoFace {
  readonly #io: Server;
  readonly #nsp: Namespace;
  readonly #face: FaceContext;
  readonly #ready: () => boolean;
  readonly #perIp: RateLimiter;
  readonly #sessions = new Set<SocketIoSession>();
  readonly #drainWaiters = new Map<object, Array<() => void>>();
  readonly #readyWaiters: Array<() => void> = [];
  #logsCache: { readonly at: number; readonly value: Promise<LogsState | undefined> } | undefined;
  readonly #sweepTimer: ReturnType<typeof setInterval>;
  #position = '';
  #positionStale = true;
  /** When bytes broadcast through topics since every socket was last held to its hard limit call for an overrun look. */
  readonly #overrun: OverrunLook;

  constructor(app: TemplatedApp, ctx: SessionContext, auth: Authenticator, presence: PresenceTracker, log: Logger, backend: () => SocketIoBackend | undefined, ready: () => boolean) {
    const { config } = ctx;
    this.#ready = ready;
    this.#overrun = new OverrunLook(config.socketHardLimitBytes);
    this.#perIp = new RateLimiter(config.connectionsPerIpPerSecond, config.connectionsPerIpPerSecond * 2);
    this.#face = {
      ctx,
      auth,
      presence,
      log,
      backend,
      position: () => this.position(),
      drained: (ws) => this.#drained(ws),
    };
    this.#io = new Server({
      serveClient: false,
      // The seed's gateway allowed any origin; the hub's allow-list applies when set.
      cors: { origin: config.allowedOrigins.length > 0 ? [...config.allowedOrigins] : true, credentials: true },
      maxHttpBufferSize: config.maxFrameBytes,
      connectionStateRecovery: { maxDisconnectionDuration: config.socketIoRecoveryMs, skipMiddlewares: false },
      adapter: hubAdapter(app, {
        logs: async () => {
          // Recovery is decided before the middleware runs: on a hub still reaching NATS, wait as #admit does.
          await this.#whenReady();
          return this.#logs();
        },
        record: async (pid) => backend()?.sessions.get(pid),
      }, (bytes) => this.#published(bytes)),
    });
    this.#io.attachApp(
      withBehavior(app, {
        // The hub closes a socket past the hard limit itself (the sweep, or an overrun look between sweeps),
        // so that no event after a skipped one can reach it: uWS past its own limit skips messages and closes
        // only later, as a bare 1006 the hub cannot count. The overrun look keeps it out of reach (uws-backpressure.ts).
        maxBackpressure: uwsBackpressureLimit(config.socketHardLimitBytes),
        closeOnBackpressureLimit: 1,
        drain: (ws) => this.#onDrain(ws),
      }),
    );
    // Clients of the default namespace would connect and hear nothing: say where to go.
    this.#io.of('/').use((_socket, next) => next(refusal(CloseCode.Unauthorized, `use the namespace ${SOCKETIO_NAMESPACE}: io('http://<hub>${SOCKETIO_NAMESPACE}')`)));
    this.#nsp = this.#io.of(SOCKETIO_NAMESPACE);
    this.#nsp.use((socket, next) => {
      this.#admit(socket).then(
        () => next(),
        (e: Error & { data?: { code: number } }) => {
          const code = e.data?.code ?? 0;
          ctx.metrics.countRefusal(code);
          // socket.io-client never retries after a connect_error from the server, but does after a lost
          // transport: refusals that pass with time (the hub starting, a connection burst) close the transport.
          if (code === CloseCode.HubUnavailable || code === CloseCode.RateLimited) {
            log.info({ reason: e.message }, 'socket.io connection deferred: closing the transport, the client retries');
            socket.conn.close();
          }
          next(e);
        },
      );
    });
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweepTimer.unref();
    this.#nsp.on('connection', (socket) => {
      (this.#nsp.adapter as unknown as { trackTransport(id: string, s: Socket): void }).trackTransport(socket.id, socket);
      const session = new SocketIoSession(socket, socket.data.grant as Grant, this.#face);
      this.#sessions.add(session);
      socket.once('disconnect', () => this.#sessions.delete(session));
      session.start();
    });
  }

  /** Live delivery: called by the fan-out for every event, after the native sessions got it. */
  deliver(event: LiveEvent): void {
    this.#positionStale = true;
    const rooms = this.#nsp.adapter.rooms;
    if (rooms.size === 0) return;
    const o = event.owner;
    let targets: string[];
    if (event.stream === 'site') targets = event.isAlarm ? [`site:${o}`, `alarms:${o}`, 'alarms:*'] : [`site:${o}`];
    else if (event.stream === 'user') targets = [`user:${o}`];
    else targets = [event.spec.tail === 'system' ? 'global:system' : 'global:notification'];
    const { permissions } = this.#face.ctx;
    // A restricted event goes to its own rooms, which only sockets whose roles allow it joined.
    if (permissions.restricted(event.spec.name)) targets = targets.map((r) => permissions.topic(r, event.spec.name));
    targets = targets.filter((r) => rooms.has(r));
    if (targets.length === 0) return;
    // One encode for all recipients (adapter); the offset rides as the last argument, as Socket.IO's recovery does it.
    this.#nsp.to(targets).emit(event.spec.name, event.data, this.position());
  }

  /** The recovery offset of live delivery now: every log's last delivered offset. */
  position(): string {
    if (this.#positionStale) {
      const fanOut = this.#face.backend()?.fanOut;
      if (fanOut === undefined) return '';
      this.#position = formatPosition({ site: fanOut.recent('site').last, user: fanOut.recent('user').last, global: fanOut.recent('global').last }, fanOut.epochs);
      this.#positionStale = false;
    }
    return this.#position;
  }

  get connections(): number {
    return this.#sessions.size;
  }

  /** Shutdown: transports are closed (not disconnected), so clients reconnect, elsewhere if need be, and recover. */
  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    for (const session of [...this.#sessions]) session.closeTransport();
    await this.#face.backend()?.sessions.flush();
    await this.#io.close().catch(() => {});
  }

  /** Wakes connections waiting for the hub to reach NATS (see #admit). */
  ready(): void {
    for (const w of this.#readyWaiters.splice(0)) w();
  }

  /**
   * Epochs and first offsets of the logs, shared by the recoveries of one second: a reconnect storm
   * of a thousand clients asks JetStream three times a second, not three thousand times.
   */
  #logs(): Promise<LogsState | undefined> {
    const now = Date.now();
    if (this.#logsCache !== undefined && now - this.#logsCache.at < LOGS_CACHE_MS) return this.#logsCache.value;
    const b = this.#face.backend();
    if (b === undefined) return Promise.resolve(undefined);
    const value = Promise.all(STREAM_KEYS.map((key) => b.replayer.firstOffset(key))).then(
      (offsets): LogsState => ({ epochs: b.fanOut.epochs, first: Object.fromEntries(STREAM_KEYS.map((key, i) => [key, offsets[i]!])) }),
    );
    this.#logsCache = { at: now, value };
    // A failed read is not shared: the next recovery asks again.
    value.catch(() => {
      if (this.#logsCache?.value === value) this.#logsCache = undefined;
    });
    return value;
  }

  /** A hub that has just started listens before it reaches NATS: connections wait a moment rather than fail. */
  #whenReady(): Promise<void> {
    if (this.#ready()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#readyWaiters.push(resolve);
      setTimeout(resolve, READY_WAIT_MS).unref();
    });
  }

  async #admit(socket: Socket): Promise<void> {
    const { config } = this.#face.ctx;
    const hs = socket.handshake;
    await this.#whenReady();
    if (!this.#ready()) throw refusal(CloseCode.HubUnavailable, 'hub not ready: reconnect');
    if (!this.#perIp.take(hs.address)) throw refusal(CloseCode.RateLimited, 'too many connections from your address: retry later');
    const origin = hs.headers.origin;
    if (!originAllowed(config.allowedOrigins, typeof origin === 'string' ? origin : '')) {
      this.#face.log.info({ origin }, 'socket.io connection refused: origin not allowed');
      throw refusal(CloseCode.ForbiddenOrigin, 'origin not allowed');
    }
    let grant: Grant;
    try {
      grant = await this.#face.auth.verify(tokenOf(hs));
    } catch (e) {
      const reason = e instanceof AuthError ? e.message : 'token check failed';
      if (!(e instanceof AuthError)) this.#face.log.error({ err: String(e) }, 'token verification crashed');
      this.#face.log.info({ reason }, 'socket.io connection refused: unauthorized');
      throw refusal(CloseCode.Unauthorized, reason);
    }
    if (this.#face.presence.connectionsOf(grant.userKey) >= config.maxConnectionsPerUser) {
      throw refusal(CloseCode.TooManyConnections, `at most ${config.maxConnectionsPerUser} connections per user`);
    }
    socket.data.grant = grant;
  }

  /**
   * Closes sockets past the hard limit (they reconnect and recover from their offset, losing
   * nothing) and applies token expiry: one pass for all sockets instead of timers per socket.
   */
  #sweep(): void {
    this.#overrun.looked();
    const limit = this.#face.ctx.config.socketHardLimitBytes;
    const now = this.#face.ctx.clock.now();
    for (const session of this.#sessions) {
      if (session.bufferedAmount > limit) this.#forceClose(session);
      else session.checkExpiry(now);
    }
  }

  /**
   * A broadcast went through a topic: once what went out since the last look could carry a socket from its hard
   * limit to uWS's own, the sockets past the hard limit are closed now, not at the next sweep (see uws-backpressure.ts).
   */
  #published(bytes: number): void {
    if (!this.#overrun.published(bytes)) return;
    const limit = this.#face.ctx.config.socketHardLimitBytes;
    for (const session of this.#sessions) if (session.bufferedAmount > limit) this.#forceClose(session);
  }

  #forceClose(session: SocketIoSession): void {
    this.#face.ctx.metrics.forcedCloses.inc({ reason: 'hard_limit' });
    this.#face.log.info({ clientId: session.clientId, buffered: session.bufferedAmount }, 'closed a slow Socket.IO consumer (send buffer past its hard limit); the client reconnects and recovers');
    session.closeTransport();
  }

  #onDrain(ws: WebSocket<unknown>): void {
    if (ws.getBufferedAmount() >= this.#face.ctx.config.socketBudgetBytes / 2) return;
    const waiters = this.#drainWaiters.get(ws);
    if (waiters === undefined) return;
    this.#drainWaiters.delete(ws);
    for (const w of waiters) w();
  }

  #drained(ws: object): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#drainWaiters.get(ws);
      if (waiters === undefined) this.#drainWaiters.set(ws, (waiters = []));
      waiters.push(resolve);
      // A socket that closes sends no drain: the replay re-checks and stops.
      setTimeout(() => {
        const list = this.#drainWaiters.get(ws);
        if (list !== undefined) {
          const i = list.indexOf(resolve);
          if (i >= 0) list.splice(i, 1);
          if (list.length === 0) this.#drainWaiters.delete(ws);
        }
        resolve();
      }, 1000).unref();
    });
  }
}

/** A refusal as socket.io-client sees it: `connect_error` with `message` and `data.code`. */
function refusal(code: number, reason: string): Error & { data: { code: number } } {
  return Object.assign(new Error(reason), { data: { code } });
}

/** `auth.token` (the seed), else `?token=`, else `Authorization: Bearer`. */
function tokenOf(hs: Socket['handshake']): string | undefined {
  const fromAuth = (hs.auth as { token?: unknown } | undefined)?.token;
  if (typeof fromAuth === 'string' && fromAuth !== '') return bearerToken(fromAuth) ?? fromAuth;
  const fromQuery = hs.query.token;
  if (typeof fromQuery === 'string' && fromQuery !== '') return fromQuery;
  const header = hs.headers.authorization;
  return typeof header === 'string' ? bearerToken(header) : undefined;
}

/**
 * The app as engine.io sees it, with settings its uWS binding does not pass through
 * added to the WebSocket route: close at the backpressure limit, and a drain hook.
 */
function withBehavior(app: TemplatedApp, extra: Partial<WebSocketBehavior<unknown>>): TemplatedApp {
  const proxy: TemplatedApp = new Proxy(app, {
    get(target, prop) {
      if (prop === 'ws') {
        return (pattern: string, behavior: WebSocketBehavior<unknown>) => {
          target.ws(pattern, { ...behavior, ...extra });
          return proxy;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      // Chained calls (`app.any(...).ws(...)`) must come back to the proxy.
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        return result === target ? proxy : result;
      };
    },
  });
  return proxy;
}
