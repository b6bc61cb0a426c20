/**
 * One Socket.IO client: the seed's commands (`subscribe:site`, `unsubscribe:site`,
 * `subscribe:alarms`, `subscribe:notifications`, `ping`) with the seed's replies,
 * subscriptions as rooms (joined only for what the token grants), the hub's limits,
 * token expiry, and recovery: a recovered socket first gets what it missed from
 * the log, then joins its rooms in the same tick as the last replayed event, so
 * nothing slips between replay and live and nothing comes twice.
 *
 * Rooms: `site:<id>` (a site's events), `alarms:<id>` / `alarms:*` (the alarm
 * feed), `user:<key>` and `global:notification` (private and broadcast
 * notifications, after `subscribe:notifications`, as in the seed) and
 * `global:system` (system messages: every socket, from the start).
 */
import type { Socket } from 'socket.io';
import { CloseCode, ErrorCode } from '../protocol/errors.ts';
import type { StreamKey } from '../protocol/subjects.ts';
import { AuthError } from './authenticator.ts';
import { CommandError, siteArg } from './commands.ts';
import { type Grant, grantsSite } from './grant.ts';
import type { LiveEvent } from './live-event.ts';
import { TokenBucket } from './rate-limiter.ts';
import { ResumeCancelled } from './replayer.ts';
import { replayMissed } from './socketio-replay.ts';
import type { PendingRestore } from './socketio-adapter.ts';
import type { FaceContext } from './socketio-face.ts';

type Reply = readonly [event: string, data: unknown, withPosition?: boolean];

/** Events a client may send; anything else counts as a bad frame. */
const COMMANDS = ['subscribe:site', 'unsubscribe:site', 'subscribe:alarms', 'subscribe:notifications', 'ping', 'auth:refresh'] as const;

/**
 * A recovered socket's missed events wait for its first packet after `connected`, or this
 * long: front-ends written like the seed's re-register their listeners when `connected`
 * arrives (React effects run after a render) and then subscribe, so events sent at once
 * would reach no listener.
 */
const RECOVERY_GRACE_MS = 500;


export class SocketIoSession {
  readonly #socket: Socket;
  readonly #face: FaceContext;
  #grant: Grant;
  /** Subscriptions, as stored for recovery: `site:<id>`, `alarms` and `notifications`. */
  readonly #subscriptions = new Set<string>();
  readonly #budget: TokenBucket;
  #badFrames = 0;
  #gone = false;
  /** Set while a recovery replays: commands wait for it, so their rooms join after the replay. */
  #restoring: Promise<void> | undefined;
  #expiryWarned = false;
  /** Resolves on the first packet the client sends (see RECOVERY_GRACE_MS). */
  #heardFrom: (() => void) | undefined;
  /** Payload bytes a replay emitted since the socket's buffer was last read after a turn (see #pause). */
  #unmeasured = 0;

  constructor(socket: Socket, grant: Grant, face: FaceContext) {
    this.#socket = socket;
    this.#grant = grant;
    this.#face = face;
    const { commandsPerSecond } = face.ctx.config;
    this.#budget = new TokenBucket(commandsPerSecond, commandsPerSecond * 2);
  }

  get #userKey(): string {
    return this.#grant.userKey;
  }

  start(): void {
    const { ctx, presence, log } = this.#face;
    presence.connected(this.#userKey);
    ctx.metrics.connections.inc();
    this.#socket.once('disconnect', (reason) => this.#closed(reason));
    // Every packet is handled here (rate limit, unknown events, then the command), never passed on to
    // per-event listeners: one closure per socket instead of one per command.
    this.#socket.use((packet) => this.#onPacket(packet));
    const restore = (this.#socket.data as { restore?: PendingRestore }).restore;
    if (this.#socket.recovered && restore !== undefined && restore.record.user === this.#userKey) {
      this.#restoring = this.#restore(restore).finally(() => (this.#restoring = undefined));
      return;
    }
    if (this.#socket.recovered) log.info({ clientId: this.#socket.id }, 'socket.io session of another user: starting afresh');
    this.#joinBase();
    this.#emit('connected', { message: 'connected', clientId: this.#socket.id }, true);
    this.#persist();
  }

  /** Bytes waiting in the socket's uWS send buffer (0 on long-polling, whose queue the engine holds). */
  get bufferedAmount(): number {
    if (this.#gone) return 0;
    const transport = this.#socket.conn.transport as unknown as { name: string; socket?: { getBufferedAmount(): number } };
    return transport.name === 'websocket' && transport.socket !== undefined ? transport.socket.getBufferedAmount() : 0;
  }

  /** Closes the transport (not a Socket.IO disconnect), so the client reconnects by itself and recovers. */
  /** The socket.io id, for log lines. */
  get clientId(): string {
    return this.#socket.id;
  }

  closeTransport(): void {
    this.#socket.conn.close();
  }

  #joinBase(): void {
    this.#join('global:system');
  }

  /** Rooms a subscription stands for, under the current grant (before HUB_EVENT_ROLES adds the restricted events' rooms). */
  #roomsOf(subscription: string): string[] {
    if (subscription === 'notifications') return [`user:${this.#userKey}`, 'global:notification'];
    if (subscription !== 'alarms') return [subscription];
    const sites = this.#grant.sites;
    return sites === '*' ? ['alarms:*'] : [...sites].map((s) => `alarms:${s}`);
  }

  /** Every room this socket is in, under the current grant. */
  #allRooms(): string[] {
    return ['global:system', ...[...this.#subscriptions].flatMap((key) => this.#roomsOf(key))];
  }

  /** Joins rooms, with the rooms of the restricted events the socket's roles allow. */
  #join(rooms: string | string[]): void {
    const { permissions } = this.#face.ctx;
    void this.#socket.join((typeof rooms === 'string' ? [rooms] : rooms).flatMap((r) => permissions.topicsFor(r, this.#grant)));
  }

  #leave(rooms: string | string[]): void {
    const { permissions } = this.#face.ctx;
    for (const room of (typeof rooms === 'string' ? [rooms] : rooms).flatMap((r) => permissions.topicsFor(r, this.#grant))) void this.#socket.leave(room);
  }

  #onPacket([event, ...args]: unknown[]): void {
    this.#heardFrom?.();
    const name = String(event);
    if (!this.#budget.take()) {
      this.#error(ErrorCode.LimitExceeded, `more than ${this.#face.ctx.config.commandsPerSecond} operations per second`, name);
      return this.#strike();
    }
    if (!(COMMANDS as readonly string[]).includes(name)) {
      this.#error(ErrorCode.UnknownOp, `unknown event ${JSON.stringify(name).slice(0, 80)}`, name);
      return this.#strike();
    }
    this.#run(name, args);
  }

  #handle(name: string, args: unknown): Reply | Promise<Reply> {
    switch (name) {
      case 'subscribe:site':
        return this.#subscribeSite(args);
      case 'unsubscribe:site':
        return this.#unsubscribeSite(args);
      case 'subscribe:alarms':
        return this.#subscribeAlarms();
      case 'subscribe:notifications':
        return this.#subscribeNotifications();
      case 'auth:refresh':
        return this.#refresh(args);
      default:
        return ['pong', { timestamp: Date.now() }];
    }
  }

  #run(name: string, args: unknown[]): void {
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (data: unknown) => void) : undefined;
    const go = (): void => {
      try {
        const result = this.#handle(name, args[0]);
        if (result instanceof Promise) result.then((r) => this.#reply(r, ack), (e: unknown) => this.#fail(name, e, ack));
        else this.#reply(result, ack);
      } catch (e) {
        this.#fail(name, e, ack);
      }
    };
    if (this.#restoring === undefined) go();
    else void this.#restoring.then(go);
  }

  #reply([event, data, withPosition]: Reply, ack: ((data: unknown) => void) | undefined): void {
    // The seed's gateway answered with an event (NestJS WsResponse); a client that passed a callback gets the data there too.
    this.#emit(event, data, withPosition === true);
    ack?.(data);
  }

  #fail(name: string, e: unknown, ack: ((data: unknown) => void) | undefined): void {
    if (!(e instanceof CommandError)) {
      this.#face.log.error({ clientId: this.#socket.id, op: name, err: (e as Error).stack }, 'socket.io command failed');
      this.#error(ErrorCode.Internal, 'internal error', name, ack);
      return;
    }
    this.#error(e.code, e.message, name, ack);
    if (e.code === ErrorCode.BadArguments) this.#strike();
  }

  /** NestJS's WsException shape (`exception {status, message}`), with the hub's error code. */
  #error(code: number, message: string, op: string, ack?: (data: unknown) => void): void {
    const data = { status: 'error', code, message, op: op.slice(0, 80) };
    this.#emit('exception', data, false);
    ack?.(data);
  }

  #strike(): void {
    if (++this.#badFrames < this.#face.ctx.config.maxBadFrames) return;
    this.#face.log.info({ clientId: this.#socket.id, badFrames: this.#badFrames }, 'closing a socket.io connection that keeps sending bad frames');
    this.#face.ctx.metrics.countRefusal(CloseCode.ProtocolViolation);
    this.#socket.disconnect(true);
  }

  /** Replies carry the live position as their last argument where the socket is live for all it subscribed to. */
  #emit(event: string, data: unknown, withPosition: boolean): void {
    if (this.#gone) return;
    if (withPosition) this.#socket.emit(event, data, this.#face.position());
    else this.#socket.emit(event, data);
  }

  #subscribeSite(args: unknown): Reply {
    const siteId = siteArg(args);
    if (!grantsSite(this.#grant, siteId)) throw new CommandError(ErrorCode.Forbidden, `site ${siteId} is not in your token`);
    const key = `site:${siteId}`;
    if (!this.#subscriptions.has(key)) {
      this.#checkRoomFor(key);
      this.#subscriptions.add(key);
      this.#face.presence.joinedSite(siteId, this.#userKey);
      this.#join(key);
      this.#persist();
    }
    return ['subscribed', { siteId: (args as { siteId: unknown }).siteId, message: `subscribed to site ${siteId}` }, true];
  }

  #unsubscribeSite(args: unknown): Reply {
    const siteId = siteArg(args);
    const key = `site:${siteId}`;
    if (this.#subscriptions.delete(key)) {
      this.#face.presence.leftSite(siteId, this.#userKey);
      this.#leave(key);
      this.#persist();
    }
    return ['unsubscribed', { siteId: (args as { siteId: unknown }).siteId, message: `unsubscribed from site ${siteId}` }];
  }

  #subscribeAlarms(): Reply {
    if (!this.#subscriptions.has('alarms')) {
      this.#checkRoomFor('alarms');
      this.#subscriptions.add('alarms');
      this.#join(this.#roomsOf('alarms'));
      this.#persist();
    }
    return ['subscribed', { channel: 'alarms', message: 'subscribed to alarms' }, true];
  }

  #subscribeNotifications(): Reply {
    if (!this.#subscriptions.has('notifications')) {
      this.#checkRoomFor('notifications');
      this.#subscriptions.add('notifications');
      this.#join(this.#roomsOf('notifications'));
      this.#persist();
    }
    return ['subscribed', { channel: 'notifications', message: 'subscribed to notifications' }, true];
  }

  #checkRoomFor(_key: string): void {
    const max = this.#face.ctx.config.maxSubscriptions;
    if (this.#subscriptions.size >= max) throw new CommandError(ErrorCode.LimitExceeded, `at most ${max} subscriptions per connection`);
  }

  /** `auth:refresh {token}`: same user, new grant; sites it no longer grants are left at once. */
  async #refresh(args: unknown): Promise<Reply> {
    const token = (args as { token?: unknown } | null | undefined)?.token;
    if (typeof token !== 'string') throw new CommandError(ErrorCode.BadArguments, 'expected {token}');
    let grant: Grant;
    try {
      grant = await this.#face.auth.verify(token);
    } catch (e) {
      throw new CommandError(ErrorCode.BadToken, e instanceof AuthError ? e.message : 'token check failed');
    }
    if (grant.userKey !== this.#grant.userKey) throw new CommandError(ErrorCode.BadToken, 'a refreshed token must be for the same user');
    // Out of every room under the old grant, into every room under the new one, in one tick: the alarm
    // feed follows the new sites, restricted events the new roles, and revoked sites are left.
    this.#leave(this.#allRooms());
    this.#grant = grant;
    const revokedSites = this.#dropRevoked();
    this.#join(this.#allRooms());
    this.#expiryWarned = false;
    this.#persist();
    return ['auth:refreshed', { expiresAt: grant.expiresAt ?? null, revokedSites }];
  }

  /** Leaves the sites the grant no longer has; says so to the client. */
  #dropRevoked(): string[] {
    const dropped: string[] = [];
    for (const key of [...this.#subscriptions]) {
      if (!key.startsWith('site:') || grantsSite(this.#grant, key.slice(5))) continue;
      const site = key.slice(5);
      this.#subscriptions.delete(key);
      this.#leave(key);
      this.#face.presence.leftSite(site, this.#userKey);
      dropped.push(site);
      this.#emit('unsubscribed', { siteId: site, message: `site ${site} is no longer in your token`, revoked: true }, false);
    }
    return dropped;
  }

  /** Token expiry, checked by the face's sweep: warned `HUB_TOKEN_WARNING_MS` before, then disconnected. */
  checkExpiry(now: number): void {
    const expiresAt = this.#grant.expiresAt;
    if (expiresAt === undefined || this.#gone) return;
    if (expiresAt <= now) {
      this.#face.ctx.metrics.countRefusal(CloseCode.TokenExpired);
      this.#error(CloseCode.TokenExpired, 'token expired', 'auth');
      // A server-side disconnect: socket.io-client does not retry with the expired token by itself.
      this.#socket.disconnect(true);
      return;
    }
    if (!this.#expiryWarned && expiresAt - now <= this.#face.ctx.config.tokenWarningMs) {
      this.#expiryWarned = true;
      this.#emit('auth:expiring', { expiresAt }, false);
    }
  }

  #persist(): void {
    // socket.io keeps the private session id to itself in its typings; it is what the client sends back.
    const pid = (this.#socket as unknown as { pid?: string }).pid;
    if (pid === undefined) return;
    this.#face.backend()?.sessions.set(pid, { user: this.#userKey, rooms: [...this.#subscriptions] });
  }

  #closed(reason: string): void {
    this.#gone = true;
    const { presence, ctx, log } = this.#face;
    for (const key of this.#subscriptions) if (key.startsWith('site:')) presence.leftSite(key.slice(5), this.#userKey);
    presence.disconnected(this.#userKey);
    ctx.metrics.connections.dec();
    log.debug({ clientId: this.#socket.id, reason }, 'socket.io client disconnected');
  }

  /**
   * Recovery: the subscriptions come back (those the token still grants), then every
   * event after the client's offset (socketio-replay.ts), then live.
   */
  async #restore({ record, from }: PendingRestore): Promise<void> {
    const { ctx, log } = this.#face;
    const heard = new Promise<void>((resolve) => {
      this.#heardFrom = resolve;
      setTimeout(resolve, RECOVERY_GRACE_MS).unref();
    });
    this.#emit('connected', { message: 'connected', clientId: this.#socket.id }, false);
    await heard;
    this.#heardFrom = undefined;
    for (const key of record.rooms) {
      if (key === 'alarms' || key === 'notifications' || (key.startsWith('site:') && key.length > 5)) this.#subscriptions.add(key);
    }
    this.#dropRevoked();
    for (const key of this.#subscriptions) if (key.startsWith('site:')) this.#face.presence.joinedSite(key.slice(5), this.#userKey);
    try {
      const backend = this.#face.backend();
      if (backend === undefined) throw new Error('hub not connected to NATS');
      const replayed = await replayMissed(backend, from, {
        gone: () => this.#gone,
        filter: (stream) => this.#filter(stream),
        matches: (e) => this.#matches(e),
        send: (e, position) => {
          this.#unmeasured += e.payload.byteLength;
          this.#socket.emit(e.spec.name, e.data, position);
        },
        pause: () => this.#pause(),
        join: () => this.#join(this.#allRooms()),
      });
      this.#persist();
      ctx.metrics.resumes.inc({ recovered: 'true' });
      ctx.metrics.replayed.inc(replayed);
    } catch (e) {
      if (e instanceof ResumeCancelled || this.#gone) return;
      // The client reconnects by itself and tries again (its offset has not moved past what it got).
      log.warn({ clientId: this.#socket.id, err: (e as Error).message }, 'socket.io recovery failed: closing the transport so the client retries');
      this.closeTransport();
    }
  }

  /** NATS subject filter of what this socket follows in a log, or undefined when it follows nothing there. */
  #filter(stream: StreamKey): string | undefined {
    const ns = this.#face.ctx.config.namespace;
    if (stream === 'user') return this.#subscriptions.has('notifications') ? `${ns}.user.${this.#userKey}.>` : undefined;
    if (stream === 'global') return `${ns}.global.>`;
    const sites = [...this.#subscriptions].filter((k) => k.startsWith('site:'));
    const alarms = this.#subscriptions.has('alarms');
    if (sites.length === 0) return alarms ? `${ns}.site.*.alarm.>` : undefined;
    // One filter subject per consumer (nats-server 2.9): several sites read the whole log and filter here.
    return sites.length === 1 && !alarms ? `${ns}.site.${sites[0]!.slice(5)}.>` : `${ns}.site.>`;
  }

  #matches(e: LiveEvent): boolean {
    if (!this.#face.ctx.permissions.allows(this.#grant, e.spec.name)) return false;
    if (e.stream === 'user') return e.owner === this.#userKey;
    if (e.stream === 'global') return e.spec.tail === 'system' || this.#subscriptions.has('notifications');
    if (this.#subscriptions.has(`site:${e.owner}`)) return true;
    return e.isAlarm && this.#subscriptions.has('alarms') && grantsSite(this.#grant, e.owner);
  }

  /**
   * Backpressure for a replay: wait while the socket's buffer (uWS) or engine queue (long-polling) is full.
   *
   * With connection state recovery on, socket.io emits through the adapter to the socket's own room, a uWS topic:
   * uWS queues small frames per topic and moves them into the socket's buffer only after the turn (its post
   * handler). Read right after the emit, the buffer looked empty, and a whole replay went out in one turn (seen:
   * 0 to 159 KB, past a 64 KB hard limit, in a single emit, and the sweep closed the recovering socket). So once
   * the replay emitted half a budget since the last such read, the buffer is read after a turn, when what it sent
   * is in it: the buffer stays within about a budget, and a replay still sends runs of events per turn.
   */
  #pause(): Promise<void> | undefined {
    const conn = this.#socket.conn as unknown as { transport: { name: string; socket?: { getBufferedAmount(): number } }; writeBuffer: unknown[]; once(e: 'drain', f: () => void): void };
    const budget = this.#face.ctx.config.socketBudgetBytes;
    const ws = conn.transport.name === 'websocket' ? conn.transport.socket : undefined;
    if (ws !== undefined) {
      if (this.#unmeasured < budget / 2 && ws.getBufferedAmount() < budget / 2) return undefined;
      this.#unmeasured = 0;
      return new Promise((resolve) =>
        setImmediate(() => {
          // Gone meanwhile: uWS throws on a closed socket, and the replay stops at its next look.
          if (this.#gone || ws.getBufferedAmount() < budget / 2) resolve();
          else void this.#face.drained(ws).then(resolve);
        }),
      );
    }
    if (conn.writeBuffer.length < 256) return undefined;
    return new Promise((resolve) => {
      conn.once('drain', resolve);
      setTimeout(resolve, 1000).unref();
    });
  }
}
