/**
 * A Socket.IO client written for load (`--socketio-client lean`): Engine.IO 4 and
 * Socket.IO 5 packets over RawWebSocket, the same conversation socket.io-client
 * has with namespace `/ws` on the websocket transport (`40/ws,{token}`, the
 * seed's `connected`, `subscribe:site`, `subscribed`, events, `2`/`3`
 * heartbeats, `pid` and `offset` for connection state recovery). Events are read
 * in place: `seq`, `sentAt` and `phase` out of the first argument's JSON, and the
 * leading number of a string last argument (the hub's recovery offset).
 * At saturation socket.io-client spent ~9 µs of the generator's CPU per
 * delivery and this client ~3 (2,000 clients, 60–170 k deliveries/s): on two
 * shared cores the client library, not the server, would otherwise set a
 * Socket.IO target's saturation. The servers see the same frames either way.
 */
import { monotonicUs } from '../clock.ts';
import { SequenceCheck, Verdict } from '../sequence-check.ts';
import type { BenchClient, ClientContext } from './bench-client.ts';
import { Reconnects } from './reconnects.ts';
import { RawWebSocket } from './raw-web-socket.ts';
import type { ClientSpec } from './worker-protocol.ts';

const NSP = '/ws';
const EVENT_PREFIXES = [Buffer.from(`42${NSP},["task:update",`), Buffer.from(`42${NSP},["alarm:new",`)];
const KEY_SEQ = Buffer.from('"seq":');
const KEY_SENT_AT = Buffer.from('"sentAt":');
const KEY_PHASE = Buffer.from('"phase":');
const QUOTE = 0x22;
const CLOSE_BRACKET = 0x5d;

/** The integer at `buf[i…]` (digits only), or -1. */
function intAt(buf: Buffer, i: number, end: number): number {
  let n = 0;
  let digits = 0;
  for (; i < end; i++, digits++) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return digits === 0 ? -1 : n;
}

function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  return end - start >= prefix.length && buf.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0;
}

/** The number after `key` inside `buf[start, end)`, or -1. */
function numberAfter(buf: Buffer, start: number, end: number, key: Buffer): number {
  const at = buf.indexOf(key, start);
  return at < 0 || at >= end ? -1 : intAt(buf, at + key.length, end);
}

export class LeanSocketIoClient implements BenchClient {
  readonly spec: ClientSpec;
  readonly check = new SequenceCheck();
  readonly #ctx: ClientContext;
  #ws: RawWebSocket | undefined;
  #pending: { resolve(): void; reject(e: Error): void } | undefined;
  /** Connection state recovery: the session id the server gave, and the last offset received. */
  #pid: string | undefined;
  #lastOffset: string | undefined;
  #recovered: boolean | undefined;
  /** Engine.IO's open packet came (often in the same read as the 101 answer, before `connect` has the socket). */
  #opened = false;
  readonly #retry = new Reconnects();
  #paused = false;
  #closing = false;

  constructor(spec: ClientSpec, ctx: ClientContext) {
    this.spec = spec;
    this.#ctx = ctx;
  }

  async connect(): Promise<void> {
    const ctx = this.#ctx;
    const subscribed = new Promise<void>((resolve, reject) => (this.#pending = { resolve, reject }));
    subscribed.catch(() => {}); // awaited below; a failed handshake rejects it unobserved
    const timer = setTimeout(() => this.#fail(new Error(`not subscribed within ${ctx.timeoutMs} ms`)), ctx.timeoutMs);
    try {
      this.#ws = await RawWebSocket.connect(
        { host: ctx.host, port: ctx.port, path: '/socket.io/?EIO=4&transport=websocket', protocols: [], timeoutMs: ctx.timeoutMs },
        { onMessage: (b, s, e, bin, at) => this.#onMessage(b, s, e, bin, at), onClose: (code, reason) => this.#onClose(code, reason) },
      );
      if (this.#paused) this.#ws.pause();
      this.#sendConnect();
      await subscribed;
    } catch (e) {
      this.#closing = true;
      this.#ws?.destroy();
      this.#closing = false;
      throw e;
    } finally {
      clearTimeout(timer);
    }
    if (this.#retry.outage !== undefined) ctx.outages.subscribed(this.#retry.outage, monotonicUs(), this.#recovered);
  }

  drop(afterMs: number): void {
    if (this.#ws === undefined || this.#ws.closed) return;
    this.#retry.outage = this.#ctx.outages.begin(monotonicUs());
    this.#closing = true;
    this.#ws.destroy();
    this.#closing = false;
    this.#retry.schedule(this.#ctx, this.spec.id, () => this.connect(), afterMs);
  }

  pause(): void {
    this.#paused = true;
    this.#ws?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#ws?.resume();
  }

  /** Engine.IO's heartbeat is the server's ping, answered in #onMessage. */
  ping(): void {}

  close(): void {
    this.#closing = true;
    this.#ws?.close(1000);
  }

  #onMessage(buf: Buffer, start: number, end: number, isBinary: boolean, receivedAtUs: number): void {
    if (isBinary) {
      this.#ctx.otherFrames++;
      return;
    }
    if (startsWith(buf, start, end, EVENT_PREFIXES[0]!) || startsWith(buf, start, end, EVENT_PREFIXES[1]!)) {
      this.#onEvent(buf, start, end, receivedAtUs);
      return;
    }
    const text = buf.toString('utf8', start, end);
    if (text === '2') this.#ws?.send('3');
    else if (text.startsWith('0')) {
      this.#opened = true;
      this.#sendConnect();
    } else if (text.startsWith(`40${NSP},`)) {
      const pid = (JSON.parse(text.slice(NSP.length + 3)) as { pid?: string }).pid;
      this.#recovered = this.#retry.outage !== undefined && this.#ctx.resume ? pid !== undefined && pid === this.#pid : undefined;
      this.#pid = pid;
    } else if (text.startsWith(`44${NSP},`)) this.#fail(new Error(`connect_error: ${text.slice(NSP.length + 3, NSP.length + 200)}`));
    else if (text.startsWith(`42${NSP},`)) {
      const [name] = JSON.parse(text.slice(NSP.length + 3)) as [string, ...unknown[]];
      if (name === 'connected') {
        if (this.#retry.outage !== undefined) this.check.markReconnect();
        this.#ws?.send(`42${NSP},${JSON.stringify(['subscribe:site', { siteId: this.spec.site }])}`);
      } else if (name === 'subscribed') {
        const p = this.#pending;
        this.#pending = undefined;
        p?.resolve();
      } else this.#ctx.otherFrames++;
    } else if (text.startsWith(`41${NSP}`) || text === '1') this.#ws?.destroy();
    else this.#ctx.otherFrames++;
  }

  /** After Engine.IO's open: connect to the namespace, asking for recovery after an outage when the target resumes. */
  #sendConnect(): void {
    const ws = this.#ws;
    if (!this.#opened || ws === undefined || ws.closed) return;
    this.#opened = false;
    const recover = this.#ctx.resume && this.#retry.outage !== undefined && this.#pid !== undefined;
    const auth = recover ? { token: this.spec.token, pid: this.#pid, offset: this.#lastOffset } : { token: this.spec.token };
    ws.send(`40${NSP},${JSON.stringify(auth)}`);
  }

  /** `42/ws,["task:update",{…"seq":N,…"sentAt":T,…"phase":P…},"<offset>"]`, read in place. */
  #onEvent(buf: Buffer, start: number, end: number, receivedAtUs: number): void {
    const seq = numberAfter(buf, start, end, KEY_SEQ);
    const sentAt = numberAfter(buf, start, end, KEY_SENT_AT);
    const phase = numberAfter(buf, start, end, KEY_PHASE);
    if (seq < 0 || sentAt < 0 || phase < 0) {
      this.#ctx.error(`unreadable event: ${buf.toString('utf8', start, Math.min(end, start + 200))}`);
      return;
    }
    const check = this.check;
    const verdict = check.accept(seq);
    // A string last argument (the hub's recovery offset) ends the frame as `,"…"]`.
    if (end - start > 2 && buf[end - 1] === CLOSE_BRACKET && buf[end - 2] === QUOTE) {
      const open = buf.lastIndexOf(QUOTE, end - 3);
      if (open > start) {
        const offset = intAt(buf, open + 1, end);
        if (offset >= 0) check.acceptOffset(offset);
        if (this.#ctx.resume) this.#lastOffset = buf.toString('latin1', open + 1, end - 2);
      }
    }
    if (verdict !== Verdict.Duplicate) this.#ctx.stats.record(phase, this.spec.group, receivedAtUs - sentAt, receivedAtUs);
    const o = this.#retry.outage;
    if (o !== undefined && o.subscribedAtUs >= 0 && sentAt >= o.subscribedAtUs && check.openGaps === 0) {
      this.#ctx.outages.caughtUp(o, receivedAtUs);
      this.#retry.outage = undefined;
    }
  }

  #fail(e: Error): void {
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(e);
  }

  #onClose(code: number, reason: string): void {
    const waiting = this.#pending !== undefined;
    this.#fail(new Error(`closed ${code} ${reason}`.trim()));
    if (this.#closing || !this.#ctx.running || waiting) return;
    // The server or the transport ended it: count it, then come back as socket.io-client would.
    this.#ctx.serverClosed(code, reason);
    this.#retry.outage ??= this.#ctx.outages.begin(monotonicUs());
    this.#retry.schedule(this.#ctx, this.spec.id, () => this.connect(), 50);
  }

}
