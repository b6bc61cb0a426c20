/**
 * HubClient: connects a browser or Node 20 to the hub with the same code.
 * Speaks the seed's event names; every delivered event carries its offset.
 * Browser-safe: no node imports.
 */
import { AUTH_SUBPROTOCOL_PREFIX, decodeFrame, encodeFrame, type EventMeta, type Frame, SUBPROTOCOL, type WireFormat } from './codec.ts';
import { HubError } from './errors.ts';

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
  /** e.g. `ws://localhost:3000/ws`. */
  readonly url: string;
  /** The JWT; sent in the WebSocket subprotocol list, never in the URL. */
  readonly token?: string;
  /** `msgpack` (default, binary frames) or `json` (text frames, for debugging). */
  readonly format?: WireFormat;
  /** A WebSocket implementation; default `globalThis.WebSocket`. On Node 20 pass `ws`'s `WebSocket`. */
  readonly WebSocket?: WebSocketConstructor;
  /** Heartbeat period; the seed pinged every 30 s and the hub closes sockets idle for 60 s. */
  readonly pingIntervalMs?: number;
  /** How long a request (subscribe, ping) waits for its reply. Default 10 s. */
  readonly requestTimeoutMs?: number;
}

export type Listener = (data: any, meta?: EventMeta) => void;

/** Why a connection ended: the WebSocket close code and reason (see docs/protocol.md). */
export interface DisconnectInfo {
  readonly code: number;
  readonly reason: string;
}

interface Pending {
  resolve(data: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

/**
 * @example
 * const client = new HubClient({ url: 'ws://localhost:3000/ws', token });
 * client.on('alarm:new', (alarm, meta) => console.log(alarm.title, meta?.offset));
 * await client.connect();
 * await client.subscribeSite(1);
 */
export class HubClient {
  readonly #options: Required<Omit<HubClientOptions, 'token' | 'WebSocket'>> & Pick<HubClientOptions, 'token' | 'WebSocket'>;
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #pending = new Map<number, Pending>();
  #ws: WebSocketLike | undefined;
  #nextRef = 1;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #clientId: string | undefined;

  constructor(options: HubClientOptions) {
    this.#options = { format: 'msgpack', pingIntervalMs: 30_000, requestTimeoutMs: 10_000, ...options };
  }

  /** The hub's id for this connection, once connected. */
  get clientId(): string | undefined {
    return this.#clientId;
  }

  get connected(): boolean {
    return this.#ws?.readyState === OPEN && this.#clientId !== undefined;
  }

  /** Opens the connection; resolves with the `connected` payload, rejects with a HubError if the hub refuses. */
  connect(): Promise<{ message: string; clientId: string }> {
    if (this.#ws !== undefined) return Promise.reject(new Error('HubClient: already connected or connecting'));
    const Impl = this.#options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (Impl === undefined) return Promise.reject(new Error('HubClient: no WebSocket implementation; on Node 20 pass { WebSocket } from the "ws" package'));
    const protocols: string[] = [SUBPROTOCOL[this.#options.format]];
    if (this.#options.token !== undefined) protocols.push(AUTH_SUBPROTOCOL_PREFIX + this.#options.token);
    const ws = new Impl(this.#options.url, protocols) as WebSocketLike;
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    return new Promise((resolve, reject) => {
      let settled = false;
      const onConnected: Listener = (data) => {
        settled = true;
        this.#clientId = data.clientId;
        this.#startPing();
        resolve(data);
      };
      this.#once('connected', onConnected);
      ws.onmessage = (ev) => this.#onMessage(ev.data);
      ws.onerror = () => {};
      ws.onclose = (ev) => {
        this.#onClose(ev.code, ev.reason);
        if (!settled) {
          settled = true;
          this.off('connected', onConnected);
          reject(new HubError(ev.code, ev.reason || `connection closed (${ev.code})`));
        }
      };
    });
  }

  /** Subscribes to a site's events (`subscribe:site {siteId}`); rejects with a HubError when the token does not grant it. */
  subscribeSite(siteId: string | number): Promise<any> {
    return this.request('subscribe:site', { siteId });
  }

  unsubscribeSite(siteId: string | number): Promise<any> {
    return this.request('unsubscribe:site', { siteId });
  }

  /** Alarms of every site the token grants. */
  subscribeAlarms(): Promise<any> {
    return this.request('subscribe:alarms');
  }

  /** Private and global notifications (`notification:new`). */
  subscribeNotifications(): Promise<any> {
    return this.request('subscribe:notifications');
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
        reject(new Error(`HubClient: no reply to ${op} within ${this.#options.requestTimeoutMs} ms`));
      }, this.#options.requestTimeoutMs);
      this.#pending.set(ref, { resolve, reject, timer });
      ws.send(encodeFrame(this.#options.format, [op, args, ref]));
    });
  }

  /** Listens to an event: a seed event name (`alarm:new`, ...), `connected`, `subscribed`, `error` or `disconnect`. */
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

  close(): void {
    this.#ws?.close(1000, 'client closed');
  }

  #once(event: string, listener: Listener): void {
    const wrapped: Listener = (data, meta) => {
      this.off(event, wrapped);
      listener(data, meta);
    };
    this.on(event, wrapped);
  }

  #emit(event: string, data: unknown, meta?: EventMeta): void {
    const set = this.#listeners.get(event);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        listener(data, meta);
      } catch (e) {
        // A throwing handler must not stop delivery to the others or kill the socket.
        queueMicrotask(() => {
          throw e;
        });
      }
    }
  }

  #onMessage(raw: unknown): void {
    let frame: Frame;
    try {
      frame = decodeFrame(raw as ArrayBuffer | string, typeof raw !== 'string');
    } catch (e) {
      this.#emit('error', { code: 100, message: `undecodable frame from hub: ${(e as Error).message}` });
      return;
    }
    const [name, data, meta] = frame;
    const ref = (meta as { ref?: unknown } | undefined)?.ref;
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
    this.#emit(name, data, typeof ref === 'number' ? undefined : (meta as EventMeta | undefined));
  }

  #onClose(code: number, reason: string): void {
    clearInterval(this.#pingTimer);
    this.#pingTimer = undefined;
    this.#ws = undefined;
    this.#clientId = undefined;
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new HubError(code, reason || 'connection closed'));
    }
    this.#pending.clear();
    this.#emit('disconnect', { code, reason } satisfies DisconnectInfo);
  }

  #startPing(): void {
    this.#pingTimer = setInterval(() => {
      this.ping().catch(() => {});
    }, this.#options.pingIntervalMs);
    // Node: a heartbeat alone must not keep the process alive.
    (this.#pingTimer as { unref?: () => void }).unref?.();
  }
}
