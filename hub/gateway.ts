/**
 * The WebSocket gateway at `/ws` (the seed's EventsGateway): authenticates at
 * upgrade, enforces origin, per-user cap, frame size and idle timeout, and turns
 * frames into commands. A bad frame costs its sender an error frame, never the hub.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import { ACKS_SUBPROTOCOL, AUTH_SUBPROTOCOL_PREFIX, BATCH_SUBPROTOCOL, decodeFrame, FrameError, SUBPROTOCOL, type WireFormat } from '../protocol/codec.ts';
import { CloseCode, ErrorCode } from '../protocol/errors.ts';
import { type Authenticator, AuthError } from './authenticator.ts';
import { bearerToken } from './bearer-token.ts';
import type { Commands } from './commands.ts';
import type { HubConfig } from './config.ts';
import type { Logger } from './logger.ts';
import type { PresenceTracker } from './presence-tracker.ts';
import { type Refusal, Session, type SocketData } from './session.ts';
import type { SessionContext } from './session-context.ts';
import { originAllowed } from './cors.ts';
import { OpenSessions } from './open-sessions.ts';
import { RateLimiter } from './rate-limiter.ts';
import { LogUnavailable } from './replayer.ts';
import { uwsBackpressureLimit } from './uws-backpressure.ts';

export class Gateway {
  readonly #config: HubConfig;
  readonly #auth: Authenticator;
  readonly #commands: Commands;
  readonly #presence: PresenceTracker;
  readonly #log: Logger;
  readonly #ctx: SessionContext;
  readonly sessions = new OpenSessions();
  #sweepTimer: ReturnType<typeof setInterval> | undefined;

  readonly #ready: () => boolean;
  /** Sockets uWS opened since the last deferred open ran. */
  #opening: Array<WebSocket<SocketData>> = [];
  readonly #openPending = (): void => {
    const opening = this.#opening;
    this.#opening = [];
    for (const ws of opening) this.#open(ws);
  };
  readonly #perIp: RateLimiter;

  /** `ready`: the hub can replay and deliver (connected to NATS, streams in place). */
  constructor(ctx: SessionContext, auth: Authenticator, commands: Commands, presence: PresenceTracker, log: Logger, ready: () => boolean) {
    this.#ctx = ctx;
    this.#ready = ready;
    this.#perIp = new RateLimiter(ctx.config.connectionsPerIpPerSecond, ctx.config.connectionsPerIpPerSecond * 2);
    this.#config = ctx.config;
    this.#auth = auth;
    this.#commands = commands;
    this.#presence = presence;
    this.#log = log;
  }

  attach(app: TemplatedApp): void {
    const behavior: WebSocketBehavior<SocketData> = {
      // Frames above maxFrameBytes get an error frame; far above it, uWS closes the socket before buffering more.
      maxPayloadLength: this.#config.maxFrameBytes * 4,
      // Idle detection is ours (application pings, see session-deadlines.ts), so it can close with a documented code. uWS's
      // own is only a backstop, set as long as it goes because it also bounds how long a closing socket may
      // take to flush its close frame (16 s here, 4 s when disabled): a slow consumer closed with 4509 still
      // has its buffered events ahead of that frame, and cut off early, its client saw 1006 instead.
      idleTimeout: uwsIdleTimeoutSeconds(this.#config.idleTimeoutMs),
      sendPingsAutomatically: false,
      // The hub closes sockets past the hard limit itself (buffer check, overrun look or send: 4509, counted), before
      // uWS's own limit, far above, is in reach (uws-backpressure.ts): uWS's close there is a bare 1006, not countable.
      maxBackpressure: uwsBackpressureLimit(this.#config.socketHardLimitBytes),
      closeOnBackpressureLimit: 1,
      upgrade: (res, req, context) => this.#upgrade(res, req, context),
      // Deferred out of the upgrade's cork: with an async upgrade, sending inside `open`
      // while the HTTP response is still corked made uWS 20.30 drop ~15% of new sockets
      // (TCP shut right after the first frame). A microtask still failed ~1 in 1,000 under
      // connection bursts; the next turn of the event loop is safely past the cork.
      // One immediate for every socket opened in a turn, not an Immediate and a closure per socket: a connect
      // storm left thousands of them as garbage.
      open: (ws) => {
        if (this.#opening.push(ws) === 1) setImmediate(this.#openPending);
      },
      message: (ws, message, isBinary) => this.#message(ws, message, isBinary),
      drain: (ws) => ws.getUserData().session?.onDrain(),
      close: (ws, code) => this.#close(ws, code),
    };
    app.ws('/ws', behavior);
    this.#sweepTimer = setInterval(() => this.#sweep(), SWEEP_MS);
    this.#sweepTimer.unref();
  }

  /** Closes every session with the given code (shutdown). */
  closeAll(code: number, reason: string): void {
    clearInterval(this.#sweepTimer);
    for (const s of [...this.sessions]) s.end(code, reason);
  }

  #upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    // Everything needed from req is copied now: it is invalid after the first await.
    const key = req.getHeader('sec-websocket-key');
    const offered = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const origin = req.getHeader('origin');
    const authorization = req.getHeader('authorization');
    const queryToken = new URLSearchParams(req.getQuery() ?? '').get('token') ?? undefined;
    const address = Buffer.from(res.getRemoteAddressAsText()).toString();
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });

    const protocols = offered.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
    const acks = protocols.includes(ACKS_SUBPROTOCOL);
    const batch = protocols.includes(BATCH_SUBPROTOCOL);
    const format: WireFormat = protocols.includes(SUBPROTOCOL.json) && !protocols.includes(SUBPROTOCOL.msgpack) ? 'json' : 'msgpack';
    const chosen = protocols.includes(SUBPROTOCOL[format]) ? SUBPROTOCOL[format] : '';
    const token = protocols.find((p) => p.startsWith(AUTH_SUBPROTOCOL_PREFIX))?.slice(AUTH_SUBPROTOCOL_PREFIX.length) ?? bearerToken(authorization) ?? queryToken;

    const finish = (data: SocketData) => {
      if (aborted) return;
      res.cork(() => res.upgrade<SocketData>(data, key, chosen, extensions, context));
    };
    // Refusals are delivered as a close code and reason, which browsers can read (an HTTP status they cannot).
    if (!this.#perIp.take(address)) {
      return finish({ refusal: { code: CloseCode.RateLimited, reason: 'too many connections from your address: retry later' } });
    }
    if (!this.#ready()) {
      // Without NATS a session could not resume: the client retries, here or at another hub.
      return finish({ refusal: { code: CloseCode.HubUnavailable, reason: 'hub not ready: reconnect' } });
    }
    if (!originAllowed(this.#config.allowedOrigins, origin)) {
      this.#log.info({ origin }, 'connection refused: origin not allowed');
      return finish({ refusal: { code: CloseCode.ForbiddenOrigin, reason: 'origin not allowed' } });
    }
    this.#auth.verify(token).then(
      // The session is the socket's user data from the start: uWS copies it onto the socket, one property.
      (grant) => finish({ session: new Session(grant, format, acks, batch, this.#ctx) }),
      (e: unknown) => {
        const reason = e instanceof AuthError ? e.message : 'token check failed';
        if (!(e instanceof AuthError)) this.#log.error({ err: String(e) }, 'token verification crashed');
        this.#log.info({ reason }, 'connection refused: unauthorized');
        finish({ refusal: { code: CloseCode.Unauthorized, reason } });
      },
    );
  }

  #open(ws: WebSocket<SocketData>): void {
    const { session, refusal } = ws.getUserData();
    // Closed before this deferred open ran: the socket is gone.
    if (session?.closed === true || refusal?.closed === true) return;
    if (session === undefined) {
      this.#refuse(ws, refusal!);
      return;
    }
    const grant = session.grant;
    if (this.#presence.connectionsOf(grant.userKey) >= this.#config.maxConnectionsPerUser) {
      this.#refuse(ws, { code: CloseCode.TooManyConnections, reason: `at most ${this.#config.maxConnectionsPerUser} connections per user` });
      return;
    }
    const userId = grant.userId;
    session.open(ws);
    this.sessions.add(session);
    this.#ctx.metrics.connections.inc();
    this.#presence.connected(grant.userKey);
    session.send(['connected', { message: 'connected', clientId: session.id, userId, expiresAt: grant.expiresAt ?? null }]);
    // After `connected`: a token already inside its warning time is warned at once.
    this.#ctx.deadlines.schedule(session);
    this.#commands.startSession(session).catch((e: Error) => {
      if (!(e instanceof LogUnavailable)) return this.#log.error({ clientId: session.id, err: e.stack }, 'session start failed');
      // Its offline notifications could not be read: a reconnect resumes them (here or on another hub).
      this.#log.warn({ clientId: session.id, err: e.message }, 'session start failed: the event log did not answer; the client reconnects');
      session.end(CloseCode.HubUnavailable, 'event log unavailable: reconnect and resume');
    });
    this.#log.debug({ clientId: session.id, userId, acks: session.acks }, 'connected');
  }

  #refuse(ws: WebSocket<SocketData>, refusal: Refusal): void {
    this.#ctx.metrics.countRefusal(refusal.code);
    ws.end(refusal.code, refusal.reason);
  }

  #message(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const session = ws.getUserData().session;
    // Not opened yet (the deferred open), or closed.
    if (session === undefined || session.closed || !this.sessions.has(session)) return;
    if (!session.takeCommand(this.#ctx.clock.now())) {
      session.send(['error', { code: ErrorCode.LimitExceeded, message: `more than ${this.#config.commandsPerSecond} operations per second` }]);
      this.#strike(session);
      return;
    }
    if (message.byteLength > this.#config.maxFrameBytes) {
      session.send(['error', { code: ErrorCode.FrameTooLarge, message: `frame of ${message.byteLength} bytes is over the ${this.#config.maxFrameBytes} byte limit` }]);
      this.#strike(session);
      return;
    }
    let accepted: boolean;
    try {
      // Decoding copies what it needs: uWS reuses `message` after this handler returns.
      accepted = this.#commands.handle(session, decodeFrame(message, isBinary));
    } catch (e) {
      if (e instanceof FrameError) session.send(['error', { code: e.code, message: e.message }]);
      else {
        const errorId = randomUUID();
        this.#log.error({ errorId, clientId: session.id, err: (e as Error).stack }, 'command failed');
        session.send(['error', { code: ErrorCode.Internal, message: `internal error ${errorId}` }]);
      }
      accepted = false;
    }
    if (!accepted) this.#strike(session);
  }

  #close(ws: WebSocket<SocketData>, code: number): void {
    const { session, refusal } = ws.getUserData();
    if (refusal !== undefined) refusal.closed = true;
    if (session === undefined) return;
    if (!this.sessions.delete(session)) {
      session.closed = true; // before its deferred open: it never opens
      return;
    }
    this.#ctx.metrics.connections.dec();
    for (const key of session.subscriptions.keys()) if (key.startsWith('site:')) this.#presence.leftSite(key.slice(5), session.grant.userKey);
    if (session.slow) this.#ctx.metrics.slowSockets.dec();
    session.leaveAll();
    this.#ctx.buffers.forget(session);
    this.#ctx.deadlines.forget(session);
    this.#presence.disconnected(session.grant.userKey);
    // A slow consumer's close is the one an operator looks for (a link or a client that cannot keep up); the rest are routine.
    if (code === CloseCode.SlowConsumer) this.#log.info({ clientId: session.id, userId: session.grant.userId, code }, 'closed a slow consumer (4509: send buffer past its hard limit, or too many alarms unacked); the client resumes from its offset');
    else this.#log.debug({ clientId: session.id, code }, 'disconnected');
  }

  #closeFor(session: Session, code: number, reason: string): void {
    this.#ctx.metrics.countRefusal(code);
    session.end(code, reason);
  }

  #strike(session: Session): void {
    if (++session.badFrames >= this.#config.maxBadFrames) {
      this.#log.info({ clientId: session.id, badFrames: session.badFrames }, 'closing a connection that keeps sending bad frames');
      this.#closeFor(session, CloseCode.ProtocolViolation, 'too many bad frames');
    }
  }

  /**
   * Send buffers, every 100 ms: the sockets that need a look, or all of them when topic traffic could have
   * filled one (BufferWatch bounds it). Token expiry and idle sockets are due times on the clock
   * (SessionDeadlines), critical redelivery has its own queue: neither is a pass over every session.
   */
  #sweep(): void {
    this.#ctx.buffers.check(this.sessions);
  }
}

/**
 * uWS's idle timeout in seconds: its longest (960 s, giving a closing socket 16 s to flush), unless the hub's
 * own idle timeout is longer, then none (uWS must not close a socket the hub still considers alive).
 */
function uwsIdleTimeoutSeconds(hubIdleTimeoutMs: number): number {
  return hubIdleTimeoutMs < 960_000 ? 960 : 0;
}

/** Often enough to catch a socket filling up before uWS's hard limit does (most ticks look at a few sockets). */
const SWEEP_MS = 100;
