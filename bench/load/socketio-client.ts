/**
 * A bench client speaking Socket.IO as the seed's clients connected:
 * socket.io-client to namespace `/ws` with `auth: {token}`, `subscribe:site`,
 * then listening to the seed's event names. WebSocket transport only (no HTTP
 * long-polling first), which is Socket.IO's fastest configuration. It drives
 * the Socket.IO baseline and the hub's Socket.IO face alike: both emit the
 * producer's BenchEvent as the first argument; the face adds its recovery
 * offset as the last (`<site>.<user>.<global>@<epochs>`), whose site part the
 * client checks only increases, and answers connection state recovery, which
 * the client asks for after an outage when the target resumes.
 */
import { io, type Socket } from 'socket.io-client';
import type { BenchEvent } from '../bench-event.ts';
import { monotonicUs } from '../clock.ts';
import { SequenceCheck, Verdict } from '../sequence-check.ts';
import type { BenchClient, ClientContext } from './bench-client.ts';
import { Reconnects } from './reconnects.ts';
import type { ClientSpec } from './worker-protocol.ts';

/** The TCP socket under engine.io's WebSocket (the `ws` package on Node), for stalls and drops. */
interface TcpHandle {
  pause(): void;
  resume(): void;
  destroy(): void;
}

export class SocketIoClient implements BenchClient {
  readonly spec: ClientSpec;
  readonly check = new SequenceCheck();
  readonly #ctx: ClientContext;
  #socket: Socket | undefined;
  readonly #retry = new Reconnects();
  #paused = false;
  #closing = false;

  constructor(spec: ClientSpec, ctx: ClientContext) {
    this.spec = spec;
    this.#ctx = ctx;
  }

  async connect(): Promise<void> {
    const ctx = this.#ctx;
    // After an outage, the same socket.io-client Socket reconnects: it sends back its pid and last offset
    // (connection state recovery), and `recovered` says whether the server restored the session.
    const reused = ctx.resume && this.#retry.outage !== undefined ? this.#socket : undefined;
    const recovering = reused !== undefined;
    if (reused?.connected === true) await this.#closed(reused);
    reused?.removeAllListeners();
    const socket = reused ?? this.#newSocket();
    // The face's events have two arguments (payload, offset), the baseline's one: no rest array per event.
    const onEvent = (e: BenchEvent, offset?: unknown) => this.#onEvent(e, offset);
    socket.on('task:update', onEvent);
    socket.on('alarm:new', onEvent);
    socket.on('error', (e: unknown) => ctx.error(`socket.io error event: ${JSON.stringify(e).slice(0, 200)}`));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`not subscribed within ${ctx.timeoutMs} ms`)), ctx.timeoutMs);
      let settled = false;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners();
        socket.disconnect();
        reject(e);
      };
      socket.once('connect_error', (e) => fail(e));
      socket.once('connected', () => {
        if (this.#paused) this.#tcp()?.pause();
        if (this.#retry.outage !== undefined) this.check.markReconnect();
        socket.emit('subscribe:site', { siteId: this.spec.site });
      });
      socket.once('subscribed', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.#retry.outage !== undefined) ctx.outages.subscribed(this.#retry.outage, monotonicUs(), recovering ? socket.recovered : undefined);
        socket.on('disconnect', (reason) => this.#onDisconnect(reason));
        resolve();
      });
      if (recovering) socket.connect();
    });
  }

  drop(afterMs: number): void {
    const tcp = this.#tcp();
    if (tcp === undefined) return;
    this.#retry.outage = this.#ctx.outages.begin(monotonicUs());
    this.#closing = true;
    this.#socket?.removeAllListeners('disconnect');
    tcp.destroy();
    this.#closing = false;
    this.#retry.schedule(this.#ctx, this.spec.id, () => this.connect(), afterMs);
  }

  pause(): void {
    this.#paused = true;
    this.#tcp()?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#tcp()?.resume();
  }

  /** engine.io has its own heartbeat (server pings, client pongs): nothing to do. */
  ping(): void {}

  close(): void {
    this.#closing = true;
    this.#socket?.removeAllListeners();
    this.#socket?.disconnect();
  }

  #onEvent(e: BenchEvent, offset: unknown): void {
    const now = monotonicUs();
    const verdict = this.check.accept(e.seq);
    // The hub's recovery offset: its leading number is the site log's offset (the baseline sends none).
    if (typeof offset === 'string') {
      const site = parseInt(offset, 10);
      if (site >= 0) this.check.acceptOffset(site);
    }
    if (verdict !== Verdict.Duplicate) this.#ctx.stats.record(e.phase, this.spec.group, now - e.sentAt, now);
    const o = this.#retry.outage;
    if (o !== undefined && o.subscribedAtUs >= 0 && e.sentAt >= o.subscribedAtUs && this.check.openGaps === 0) {
      this.#ctx.outages.caughtUp(o, now);
      this.#retry.outage = undefined;
    }
  }

  #onDisconnect(reason: string): void {
    if (this.#closing || !this.#ctx.running) return;
    // The server or the transport ended it (e.g. a ping timeout under load): count it, then come back.
    this.#ctx.serverClosed(0, reason);
    this.#retry.outage ??= this.#ctx.outages.begin(monotonicUs());
    this.#retry.schedule(this.#ctx, this.spec.id, () => this.connect(), 50);
  }


  #newSocket(): Socket {
    const ctx = this.#ctx;
    this.#socket?.removeAllListeners();
    this.#socket?.disconnect();
    this.#socket = io(`http://${ctx.host}:${ctx.port}/ws`, {
      transports: ['websocket'],
      auth: { token: this.spec.token },
      reconnection: false,
      forceNew: true,
      timeout: ctx.timeoutMs,
    });
    return this.#socket;
  }

  /** Resolves once a dropped socket has noticed its transport is gone (bounded: the drop destroyed it). */
  #closed(socket: Socket): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1000);
      socket.once('disconnect', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #tcp(): TcpHandle | undefined {
    const transport = (this.#socket?.io.engine as unknown as { transport?: { ws?: { _socket?: TcpHandle } } } | undefined)?.transport;
    return transport?.ws?._socket;
  }
}
