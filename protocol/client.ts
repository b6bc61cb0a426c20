/**
 * HubClient: connects a browser or Node 20 to the hub with the same code, and
 * heals itself: it reconnects with backoff and jitter, resumes every
 * subscription from its last offsets, drops duplicates, acks critical events
 * after their handler ran, pings as the seed did, and refreshes its token.
 * Speaks the seed's event names. Browser-safe: no node imports.
 */
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { isSiteEvent, siteEventSpec } from './catalogue.ts';
import { ACKS_SUBPROTOCOL, AUTH_SUBPROTOCOL_PREFIX, BATCH_SUBPROTOCOL, decodeFrame, encodeFrame, type EventMeta, type Frame, framesOf, SUBPROTOCOL, type WireFormat } from './codec.ts';
import { CloseCode, ConnectionClosedError, ErrorCode, HubError } from './errors.ts';
import { SeenOffsets } from './seen-offsets.ts';

/** The subset of the WebSocket API HubClient uses (browsers' WebSocket and the `ws` package both fit). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly protocol: string;
  send(data: string | ArrayBufferLike | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
/** Any WebSocket class with the browser constructor signature; instances must behave as WebSocketLike. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

export interface HubClientOptions {
  /** e.g. `ws://localhost:3000/ws`; with several hubs, a list tried in turn on each reconnect. */
  readonly url: string | readonly string[];
  /** The JWT; sent in the WebSocket subprotocol list, never in the URL. */
  readonly token?: string;
  /** Called for a fresh token before the current one expires, and before reconnecting after an auth failure. */
  readonly getToken?: () => string | Promise<string>;
  /** `msgpack` (default, binary frames) or `json` (text frames, for debugging). */
  readonly format?: WireFormat;
  /** A WebSocket implementation; default `globalThis.WebSocket`. On Node 20 pass `ws`'s `WebSocket`. */
  readonly WebSocket?: WebSocketConstructor;
  /** Heartbeat period; the seed pinged every 30 s and the hub closes sockets idle for 60 s. */
  readonly pingIntervalMs?: number;
  /** How long a request (subscribe, ping) waits for its reply. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Reconnect policy, or false to stay disconnected after a drop. */
  readonly reconnect?: Partial<BackoffOptions> | false;
  /** Acks are coalesced for this long. Default 50 ms. */
  readonly ackDelayMs?: number;
  /**
   * Offer `hub.opt.batch` (default true): the hub may then send several events of a topic in one message, which
   * the client unpacks in order. False: one frame per message, as a client that predates batches gets.
   */
  readonly batch?: boolean;
}

const NO_WEBSOCKET = 'HubClient: no WebSocket implementation (this runtime has no global WebSocket); on Node 20 pass one: `import { WebSocket } from \'ws\'; new HubClient({ url, token, WebSocket })`';

export type Listener = (data: any, meta?: EventMeta) => void;

/** Why a connection ended: the WebSocket close code and reason (see docs/protocol.md). */
export interface DisconnectInfo {
  readonly code: number;
  readonly reason: string;
}

/** Emitted for each subscription restored after a reconnect. `recovered: false`: refetch that state. */
export interface RecoveredInfo {
  readonly subscription: string;
  readonly recovered: boolean;
  readonly replayed: number;
}

interface Pending {
  resolve(data: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

interface Position {
  offset: number;
  epoch: string;
}

/** A subscription the client keeps across reconnects. */
interface Wanted {
  readonly op: 'subscribe:site' | 'subscribe:alarms' | 'subscribe:notifications';
  readonly args: Record<string, unknown>;
  /**
   * Complete up to here: set by the hub's `subscribed` reply, advanced by live events and, for a site,
   * by its in-order replayed ones, so a reconnect resumes from where the client actually got.
   */
  position: Position | undefined;
  live: boolean;
  /** Callers of a subscribe whose first request was cut off by a closing socket: answered after the reconnect. */
  waiting: Array<{ resolve(reply: unknown): void; reject(error: Error): void }>;
}

const OPEN = 1;
/** Close codes after which reconnecting cannot help (without a new token). */
const FATAL = new Set<number>([CloseCode.ForbiddenOrigin, CloseCode.ProtocolViolation]);
const DEFAULT_BACKOFF: BackoffOptions = { initialDelayMs: 500, maxDelayMs: 30_000, jitter: 0.5 };

/**
 * @example
 * const client = new HubClient({ url: 'ws://localhost:3000/ws', token, getToken: refresh });
 * client.on('alarm:new', (alarm, meta) => console.log(alarm.title, meta?.offset));
 * client.on('recovered', ({ subscription, recovered }) => { if (!recovered) refetch(subscription); });
 * await client.connect();
 * await client.subscribeSite(1);
 */
export class HubClient {
  readonly #options: HubClientOptions;
  readonly #format: WireFormat;
  readonly #backoff: BackoffOptions | false;
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #pending = new Map<number, Pending>();
  readonly #wanted = new Map<string, Wanted>();
  /** Critical offsets handled, per log (they reach a session through more than one subscription). */
  readonly #seen = new SeenOffsets();
  /**
   * Highest offset of a normal or latest-value event handled, per site: those come through the site's one
   * subscription in offset order (replay, then live), so anything at or below it is a re-send.
   */
  readonly #highWater = new Map<string, number>();
  readonly #epochs = new Map<string, string>();
  readonly #ackUpTo = new Map<string, Position>();
  /** Critical offsets whose handler threw, per log: kept out of acks until handled. */
  readonly #failed = new Map<string, Set<number>>();
  #token: string | undefined;
  #ws: WebSocketLike | undefined;
  #nextRef = 1;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;
  #urlIndex = 0;
  #clientId: string | undefined;
  #closedByUser = false;
  #refreshTokenNext = false;

  constructor(options: HubClientOptions) {
    this.#options = options;
    this.#format = options.format ?? 'msgpack';
    this.#backoff = options.reconnect === false ? false : { ...DEFAULT_BACKOFF, ...options.reconnect };
    this.#token = options.token;
  }

  /** The hub's id for this connection, once connected. */
  get clientId(): string | undefined {
    return this.#clientId;
  }

  get connected(): boolean {
    return this.#ws?.readyState === OPEN && this.#clientId !== undefined;
  }

  /**
   * Opens the connection; resolves with the `connected` payload, rejects with a HubError if the hub refuses,
   * and at once with a TypeError when there is no WebSocket to open (Node 20 without the `WebSocket` option).
   */
  connect(): Promise<{ message: string; clientId: string }> {
    if (this.#ws !== undefined) return Promise.reject(new Error('HubClient: already connected or connecting'));
    // Nothing would ever retry this: fail now rather than wait for a socket that cannot exist.
    if (this.#webSocketClass() === undefined) return Promise.reject(new TypeError(NO_WEBSOCKET));
    this.#closedByUser = false;
    return new Promise((resolve, reject) => {
      const onConnected: Listener = (data) => {
        this.off('connected', onConnected);
        this.off('disconnect', onFailed);
        resolve(data);
      };
      const onFailed: Listener = (info: DisconnectInfo) => {
        // A transient failure (network, hub starting or busy) is retried like any reconnect; a refusal rejects.
        if (this.#backoff !== false && this.#retryable(info.code)) return;
        this.off('connected', onConnected);
        this.off('disconnect', onFailed);
        this.#closedByUser = true;
        clearTimeout(this.#reconnectTimer);
        reject(new HubError(info.code, info.reason || `connection closed (${info.code})`));
      };
      this.on('connected', onConnected);
      this.on('disconnect', onFailed);
      void this.#open();
    });
  }

  /**
   * Subscribes to a site's events; rejects with a HubError when the token does not grant it. Kept across
   * reconnects. With `from` (e.g. a dashboard snapshot's `{offset, epoch}`), starts right after it: the
   * hub replays what came since, then live, with no gap.
   */
  subscribeSite(siteId: string | number, from?: { offset: number; epoch: string }): Promise<any> {
    return this.#subscribe(`site:${siteId}`, 'subscribe:site', { siteId }, from);
  }

  unsubscribeSite(siteId: string | number): Promise<any> {
    this.#wanted.delete(`site:${siteId}`);
    // Subscribing again later (say from an older snapshot's offset) gets its events again.
    this.#highWater.delete(String(siteId));
    return this.request('unsubscribe:site', { siteId });
  }

  /** Alarms of every site the token grants. Unacked alarms come back after a reconnect, on any device. */
  subscribeAlarms(): Promise<any> {
    return this.#subscribe('alarms', 'subscribe:alarms', {});
  }

  /**
   * The user's private notifications and the broadcasts (`notification:new`), as the seed's channel:
   * kept across reconnects, and those that arrived while the user was offline come first.
   * System messages arrive without subscribing.
   */
  subscribeNotifications(): Promise<any> {
    return this.#subscribe('notifications', 'subscribe:notifications', {});
  }

  /** Acknowledges an alarm as an operator; every subscriber of its site sees `alarm:update`. */
  acknowledgeAlarm(alarmId: string | number, siteId: string | number): Promise<{ alarmId: unknown; offset: number }> {
    return this.request('alarm:ack', { alarmId, siteId }) as Promise<{ alarmId: unknown; offset: number }>;
  }

  /** Sends the seed's `ping`; resolves with `pong {timestamp}`. */
  ping(): Promise<{ timestamp: number }> {
    return this.request('ping') as Promise<{ timestamp: number }>;
  }

  /** Sends any operation and resolves with the hub's reply data (or rejects with its error). */
  request(op: string, args?: unknown): Promise<unknown> {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== OPEN) return Promise.reject(new Error(`HubClient: not connected (${op})`));
    const ref = this.#nextRef++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(ref);
        reject(new Error(`HubClient: no reply to ${op} within ${this.#options.requestTimeoutMs ?? 10_000} ms`));
      }, this.#options.requestTimeoutMs ?? 10_000);
      this.#pending.set(ref, { resolve, reject, timer });
      ws.send(encodeFrame(this.#format, [op, args, ref]));
    });
  }

  /**
   * Listens to an event: a seed event name (`alarm:new`, ...), or `connected`, `subscribed`,
   * `disconnect`, `reconnecting`, `recovered`, `error`.
   */
  on(event: string, listener: Listener): this {
    let set = this.#listeners.get(event);
    if (set === undefined) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  /** Removes one listener, or all listeners of the event. */
  off(event: string, listener?: Listener): this {
    if (listener === undefined) this.#listeners.delete(event);
    else this.#listeners.get(event)?.delete(listener);
    return this;
  }

  /** Closes for good (no reconnect); pending acks are sent first. */
  close(): void {
    this.#closedByUser = true;
    clearTimeout(this.#reconnectTimer);
    for (const wanted of this.#wanted.values()) for (const w of wanted.waiting.splice(0)) w.reject(new Error('HubClient: closed'));
    this.#flushAcks();
    this.#ws?.close(1000, 'client closed');
  }

  #webSocketClass(): WebSocketConstructor | undefined {
    return this.#options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  }

  async #open(): Promise<void> {
    // connect() made sure there is one; globalThis.WebSocket does not go away.
    const Impl = this.#webSocketClass()!;
    if (this.#refreshTokenNext && this.#options.getToken !== undefined) {
      this.#refreshTokenNext = false;
      try {
        this.#token = await this.#options.getToken();
      } catch (e) {
        this.#emit('error', { code: 0, message: `getToken failed: ${(e as Error).message}` });
      }
    }
    const protocols: string[] = [SUBPROTOCOL[this.#format], ACKS_SUBPROTOCOL];
    if (this.#options.batch !== false) protocols.push(BATCH_SUBPROTOCOL);
    if (this.#token !== undefined) protocols.push(AUTH_SUBPROTOCOL_PREFIX + this.#token);
    const urls = typeof this.#options.url === 'string' ? [this.#options.url] : this.#options.url;
    // Reconnects move on to the next hub; a first connect retries its hub a few times before moving on,
    // so a transient refusal does not scatter clients that were pointed at a particular hub.
    const index = this.#clientId !== undefined ? ++this.#urlIndex : (this.#urlIndex = Math.floor(this.#attempt / 3));
    const ws = new Impl(urls[index % urls.length]!, protocols) as WebSocketLike;
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.onmessage = (ev) => {
      if (this.#ws === ws) this.#onMessage(ev.data);
    };
    ws.onerror = () => {};
    ws.onclose = (ev) => {
      if (this.#ws === ws) this.#onClose(ev.code, ev.reason);
    };
  }

  async #subscribe(key: string, op: Wanted['op'], args: Record<string, unknown>, from?: Position): Promise<any> {
    const wanted: Wanted = this.#wanted.get(key) ?? { op, args, position: undefined, live: false, waiting: [] };
    if (from !== undefined) wanted.position = { offset: from.offset, epoch: from.epoch };
    this.#wanted.set(key, wanted);
    try {
      return await this.#resubscribe(wanted);
    } catch (e) {
      // The socket closed before the reply: nothing was refused. It is asked again after the reconnect
      // (from its position), and this call answers then.
      if (e instanceof ConnectionClosedError && this.#willReconnect(e.code) && this.#wanted.get(key) === wanted) {
        return new Promise((resolve, reject) => wanted.waiting.push({ resolve, reject }));
      }
      // Refused in a reply (error codes are below 1000, e.g. site not granted): don't retry it. Closed
      // for good (close codes, 1000 and up) it stays wanted, as the user may reconnect.
      if (e instanceof HubError && !(e instanceof ConnectionClosedError) && e.code < 1000) this.#wanted.delete(key);
      throw e;
    }
  }

  /** Whether a close with `code` is followed by a reconnect. */
  #willReconnect(code: number): boolean {
    if (this.#closedByUser || this.#backoff === false || FATAL.has(code)) return false;
    return (code !== CloseCode.Unauthorized && code !== CloseCode.TokenExpired) || this.#options.getToken !== undefined;
  }

  async #resubscribe(wanted: Wanted): Promise<any> {
    wanted.live = false;
    const reply = (await this.request(wanted.op, { ...wanted.args, ...wanted.position })) as { offset?: number; epoch?: string; recovered?: boolean };
    if (typeof reply.offset === 'number' && typeof reply.epoch === 'string') {
      const p = wanted.position;
      // Never backwards: live events may have been handled before the reply arrived.
      if (p === undefined || p.epoch !== reply.epoch || p.offset < reply.offset) wanted.position = { offset: reply.offset, epoch: reply.epoch };
    }
    wanted.live = true;
    return reply;
  }

  #onConnected(data: { clientId: string }): void {
    const reconnect = this.#clientId !== undefined;
    this.#attempt = 0;
    this.#clientId = data.clientId;
    this.#startPing();
    // Everything wanted is (re)subscribed from its last position, including subscriptions asked for while offline.
    for (const [key, wanted] of this.#wanted) {
      this.#resubscribe(wanted).then(
        (reply: { recovered?: boolean; replayed?: number }) => {
          for (const w of wanted.waiting.splice(0)) w.resolve(reply);
          if (reconnect) this.#emit('recovered', { subscription: key, recovered: reply.recovered !== false, replayed: reply.replayed ?? 0 } satisfies RecoveredInfo);
        },
        (e: Error) => {
          if (e instanceof ConnectionClosedError && this.#willReconnect(e.code)) return; // asked again after the next reconnect
          if (e instanceof HubError && !(e instanceof ConnectionClosedError)) {
            for (const w of wanted.waiting.splice(0)) w.reject(e);
            if (e.code === ErrorCode.Forbidden) this.#wanted.delete(key); // no longer granted
          }
          this.#emit('error', { code: e instanceof HubError ? e.code : 0, message: `resubscribing ${key} failed: ${e.message}` });
        },
      );
    }
  }

  #onMessage(raw: unknown): void {
    let frames: readonly Frame[];
    try {
      frames = framesOf(decodeFrame(raw as ArrayBuffer | string, typeof raw !== 'string'));
    } catch (e) {
      this.#emit('error', { code: 100, message: `undecodable frame from hub: ${(e as Error).message}` });
      return;
    }
    // A batch holds a topic's frames in the order the hub wrote them: handled one by one, as if each had come alone.
    const ws = this.#ws;
    for (const frame of frames) {
      if (this.#ws !== ws) break; // a handler closed the connection: the rest belonged to it
      this.#onFrame(frame);
    }
  }

  #onFrame(frame: Frame): void {
    const [name, data, meta] = frame;
    const m = meta as (EventMeta & { ref?: unknown }) | undefined;
    if (m !== undefined && typeof m.offset === 'number' && typeof m.stream === 'string') {
      this.#onEvent(name, data, m);
      return;
    }
    const ref = m?.ref;
    if (typeof ref === 'number') {
      const pending = this.#pending.get(ref);
      if (pending !== undefined) {
        this.#pending.delete(ref);
        clearTimeout(pending.timer);
        if (name === 'error') {
          const err = data as { code: number; message: string };
          pending.reject(new HubError(err.code, err.message));
        } else pending.resolve(data);
      }
    }
    if (name === 'connected') this.#onConnected(data as { clientId: string });
    else if (name === 'unsubscribed' && (data as { revoked?: unknown }).revoked === true) {
      // A refreshed token no longer grants the site: don't ask for it again on reconnect.
      this.#wanted.delete(`site:${(data as { siteId: unknown }).siteId}`);
    }
    else if (name === 'auth:expiring') void this.#refreshToken();
    this.#emit(name, data);
  }

  #onEvent(name: string, data: unknown, meta: EventMeta): void {
    const { stream, offset, epoch } = meta;
    if (this.#epochs.get(stream) !== epoch) {
      // A recreated log restarts its offsets: forget the old ones.
      if (this.#epochs.has(stream)) {
        this.#seen.clear(stream);
        if (stream === 'site') this.#highWater.clear();
      }
      this.#epochs.set(stream, epoch);
    }
    const critical = stream !== 'site' || (isSiteEvent(name) && siteEventSpec(name).priority === 'critical');
    if (!critical) {
      this.#onSiteEvent(name, data, meta);
      return;
    }
    if (this.#seen.has(stream, offset) && meta.resync !== true) {
      this.#scheduleAck(stream, offset, epoch); // our ack was lost: send it again
      return;
    }
    if (stream === 'site') {
      // Alarms reach a session through its site subscription and through `alarms`: while either replays, one
      // may run ahead of the other, so only a live subscription advances on them.
      this.#advance(this.#wanted.get(`site:${meta.site}`), meta, false);
      this.#advance(this.#wanted.get('alarms'), meta, false);
    }
    const handled = this.#emit(name, data, meta);
    // Acked only once every handler returned: an event whose handler threw is neither marked seen nor
    // acked (nor covered by a later cumulative ack), so the hub's redelivery runs it again.
    const failed = this.#failed.get(stream);
    if (handled) {
      this.#seen.add(stream, offset);
      failed?.delete(offset);
      this.#scheduleAck(stream, offset, epoch);
    } else {
      if (failed === undefined) this.#failed.set(stream, new Set([offset]));
      else failed.add(offset);
    }
  }

  /**
   * A normal or latest-value event: only its site's subscription carries it, in offset order (replay, then
   * live), so a high-water mark drops every re-send however many there are, and the subscription's position
   * advances even while it replays. A `resync` (the newest value after shedding) is older on purpose.
   */
  #onSiteEvent(name: string, data: unknown, meta: EventMeta): void {
    const site = String(meta.site);
    if (meta.resync !== true) {
      const high = this.#highWater.get(site);
      if (high !== undefined && meta.offset <= high) return;
      this.#highWater.set(site, meta.offset);
      this.#advance(this.#wanted.get(`site:${site}`), meta, true);
    }
    this.#emit(name, data, meta);
  }

  /** Moves a subscription's position forward to an event it got; `inOrder`: even while it still replays. */
  #advance(wanted: Wanted | undefined, meta: EventMeta, inOrder: boolean): void {
    if (wanted === undefined || (!wanted.live && !inOrder)) return;
    if (wanted.position === undefined || wanted.position.epoch !== meta.epoch || meta.offset > wanted.position.offset) wanted.position = { offset: meta.offset, epoch: meta.epoch };
  }

  #scheduleAck(stream: string, offset: number, epoch: string): void {
    const cur = this.#ackUpTo.get(stream);
    if (cur === undefined || cur.epoch !== epoch || offset > cur.offset) this.#ackUpTo.set(stream, { offset, epoch });
    this.#ackTimer ??= setTimeout(() => {
      this.#ackTimer = undefined;
      this.#flushAcks();
    }, this.#options.ackDelayMs ?? 50);
  }

  #flushAcks(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== OPEN) return;
    for (const [stream, { offset, epoch }] of this.#ackUpTo) {
      const failed = this.#failed.get(stream);
      // Acks are cumulative: never cover an event whose handler failed.
      const upTo = failed === undefined || failed.size === 0 ? offset : Math.min(offset, Math.min(...failed) - 1);
      if (upTo > 0) ws.send(encodeFrame(this.#format, ['ack', { stream, offset: upTo, epoch }]));
    }
    this.#ackUpTo.clear();
  }

  async #refreshToken(): Promise<void> {
    if (this.#options.getToken === undefined) return;
    try {
      const token = await this.#options.getToken();
      await this.request('auth:refresh', { token });
      this.#token = token;
    } catch (e) {
      this.#emit('error', { code: e instanceof HubError ? e.code : 0, message: `token refresh failed: ${(e as Error).message}` });
    }
  }

  /** Close codes after which trying again can succeed without anything changing on the client's side. */
  #retryable(code: number): boolean {
    if (code < 4000) return true; // network trouble, hub restart
    if (code === CloseCode.HubUnavailable || code === CloseCode.RateLimited || code === CloseCode.SlowConsumer) return true;
    return (code === CloseCode.Unauthorized || code === CloseCode.TokenExpired) && this.#options.getToken !== undefined;
  }

  #onClose(code: number, reason: string): void {
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    this.#ws = undefined;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new ConnectionClosedError(code, reason || 'connection closed'));
    }
    this.#pending.clear();
    for (const wanted of this.#wanted.values()) wanted.live = false;
    this.#emit('disconnect', { code, reason } satisfies DisconnectInfo);
    if (this.#closedByUser || this.#backoff === false || FATAL.has(code)) return;
    if (code === CloseCode.Unauthorized || code === CloseCode.TokenExpired) {
      if (this.#options.getToken === undefined) return; // the same token would be refused again
      this.#refreshTokenNext = true;
    }
    const delayMs = backoffDelay(this.#attempt++, this.#backoff);
    this.#emit('reconnecting', { attempt: this.#attempt, delayMs });
    this.#reconnectTimer = setTimeout(() => void this.#open(), delayMs);
  }

  /** Calls the listeners; false if one threw (rethrown asynchronously, so it is still reported). */
  #emit(event: string, data: unknown, meta?: EventMeta): boolean {
    const set = this.#listeners.get(event);
    if (set === undefined) return true;
    let ok = true;
    for (const listener of [...set]) {
      try {
        listener(data, meta);
      } catch (e) {
        // A throwing handler must not stop delivery to the others or kill the socket.
        ok = false;
        queueMicrotask(() => {
          throw e;
        });
      }
    }
    return ok;
  }

  #startPing(): void {
    clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => {
      this.ping().catch(() => {});
    }, this.#options.pingIntervalMs ?? 30_000);
    // Node: a heartbeat alone must not keep the process alive.
    (this.#pingTimer as { unref?: () => void }).unref?.();
  }
}
