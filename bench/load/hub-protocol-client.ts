/**
 * A bench client speaking the hub's wire protocol (msgpack frames `[name, data,
 * meta]`, token in the subprotocol list) over RawWebSocket. The uws-bare
 * baseline answers the same frames, so both targets are driven by this code.
 */
import { ACKS_SUBPROTOCOL, AUTH_SUBPROTOCOL_PREFIX, BATCH_SUBPROTOCOL, decodeFrame, encodeFrame, SUBPROTOCOL } from '../../protocol/codec.ts';
import { monotonicUs } from '../clock.ts';
import { SequenceCheck, Verdict } from '../sequence-check.ts';
import type { BenchClient, ClientContext } from './bench-client.ts';
import { Reconnects } from './reconnects.ts';
import { EventFrameReader, EventKind } from './event-frame-reader.ts';
import { RawWebSocket } from './raw-web-socket.ts';
import type { ClientSpec } from './worker-protocol.ts';

/** HubClient's default ack delay. */
const ACK_DELAY_MS = 50;

/** One reader per worker thread: it holds no state between frames. */
const reader = new EventFrameReader();
const textDecoder = new TextDecoder();

interface Waiter {
  readonly ref: number | 'connected';
  resolve(frame: readonly unknown[]): void;
  reject(e: Error): void;
}

export class HubProtocolClient implements BenchClient {
  readonly spec: ClientSpec;
  readonly check = new SequenceCheck();
  readonly #ctx: ClientContext;
  #ws: RawWebSocket | undefined;
  #waiter: Waiter | undefined;
  #nextRef = 1;
  #epoch: string | undefined;
  readonly #retry = new Reconnects();
  #paused = false;
  #closing = false;
  /** The highest alarm offset not yet acked (0: none), sent within ACK_DELAY_MS as HubClient does. */
  #ackUpTo = 0;
  #ackTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(spec: ClientSpec, ctx: ClientContext) {
    this.spec = spec;
    this.#ctx = ctx;
  }

  async connect(): Promise<void> {
    const ctx = this.#ctx;
    const connected = this.#wait('connected');
    connected.catch(() => {}); // awaited below; a failed handshake rejects it unobserved
    try {
      this.#ws = await RawWebSocket.connect(
        { host: ctx.host, port: ctx.port, path: '/ws', protocols: [SUBPROTOCOL.msgpack, BATCH_SUBPROTOCOL, ...(ctx.ack ? [ACKS_SUBPROTOCOL] : []), AUTH_SUBPROTOCOL_PREFIX + this.spec.token], timeoutMs: ctx.timeoutMs },
        { onMessage: (b, s, e, bin, at) => this.#onMessage(b, s, e, bin, at), onClose: (code, reason) => this.#onClose(code, reason) },
      );
    } catch (e) {
      this.#waiter?.reject(e as Error);
      this.#waiter = undefined;
      throw e;
    }
    if (this.#paused) this.#ws.pause();
    await connected;
    // Any gap from here on was opened by the outage (replayed events may arrive before the reply).
    if (this.#retry.outage !== undefined) this.check.markReconnect();
    // RESUME PLUG-IN (issue 3): after an outage the subscription carries the last
    // offset and epoch seen, and the hub replays what was missed before going live.
    // A hub without resume ignores the extra fields, so the loss of a plain
    // reconnect is what this measures until then.
    const resuming = this.#retry.outage !== undefined && ctx.resume && this.check.lastOffset > 0;
    const args = resuming ? { siteId: this.spec.site, offset: this.check.lastOffset, epoch: this.#epoch } : { siteId: this.spec.site };
    const reply = await this.#request('subscribe:site', args);
    if (reply[0] !== 'subscribed') throw new Error(`subscribe:site answered ${JSON.stringify(reply).slice(0, 200)}`);
    if (this.#retry.outage !== undefined) {
      ctx.outages.subscribed(this.#retry.outage, monotonicUs(), resuming ? (reply[1] as { recovered?: unknown } | undefined)?.recovered : undefined);
    }
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

  ping(): void {
    if (this.#ws !== undefined && !this.#ws.closed) this.#ws.send(encodeFrame('msgpack', ['ping', undefined, this.#nextRef++]));
  }

  close(): void {
    clearTimeout(this.#ackTimer);
    this.#closing = true;
    this.#ws?.close(1000);
  }

  /** Acks are cumulative, per stream: the bench's alarms are site events, so one position, flushed every ACK_DELAY_MS. */
  #scheduleAck(offset: number): void {
    this.#ackUpTo = offset;
    this.#ackTimer ??= setTimeout(() => {
      this.#ackTimer = undefined;
      const ws = this.#ws;
      if (ws === undefined || ws.closed || this.#epoch === undefined) return;
      ws.send(encodeFrame('msgpack', ['ack', { stream: 'site', offset: this.#ackUpTo, epoch: this.#epoch }]));
    }, ACK_DELAY_MS);
  }

  #onMessage(buf: Buffer, start: number, end: number, isBinary: boolean, receivedAtUs: number): void {
    // A batch (the hub's coalesced writes): its frames in order, each walked in place like a message of its own.
    const n = isBinary ? reader.batch(buf, start, end) : -1;
    if (n < 0) {
      this.#onFrame(buf, start, end, isBinary, receivedAtUs);
      return;
    }
    let p = reader.end;
    for (let i = 0; i < n && p < end; i++) {
      p = this.#onFrame(buf, p, end, true, receivedAtUs, true);
      if (p < 0) return;
    }
  }

  /**
   * One frame at `buf[start…)`, within `end`: the whole message, or (`inBatch`) one of a batch's frames.
   * Returns where it ended, -1 if a batch cannot be walked further.
   */
  #onFrame(buf: Buffer, start: number, end: number, isBinary: boolean, receivedAtUs: number, inBatch = false): number {
    let isEvent = false;
    try {
      isEvent = isBinary && reader.read(buf, start, end);
    } catch (e) {
      // A frame the in-place reader cannot walk goes to the full decoder below, which says why.
      this.#ctx.error(`unreadable event frame: ${(e as Error).message}`);
      if (inBatch) return -1;
    }
    if (isEvent) {
      const check = this.check;
      const verdict = check.accept(reader.seq);
      if (reader.offset >= 0) check.acceptOffset(reader.offset);
      if (verdict !== Verdict.Duplicate) this.#ctx.stats.record(reader.phase, this.spec.group, receivedAtUs - reader.sentAt, receivedAtUs);
      if (this.#epoch === undefined && reader.epochStart >= 0) {
        this.#epoch = textDecoder.decode(buf.subarray(reader.epochStart, reader.epochStart + reader.epochLength));
        this.#ctx.epochs.add(this.#epoch);
      }
      if (this.#ctx.ack && reader.kind === EventKind.Alarm && reader.offset > this.#ackUpTo) this.#scheduleAck(reader.offset);
      const o = this.#retry.outage;
      if (o !== undefined && o.subscribedAtUs >= 0 && reader.sentAt >= o.subscribedAtUs && check.openGaps === 0) {
        this.#ctx.outages.caughtUp(o, receivedAtUs);
        this.#retry.outage = undefined;
      }
      return reader.end;
    }
    if (inBatch) {
      try {
        reader.skipFrame(buf, start);
      } catch (e) {
        this.#ctx.error(`unreadable batch frame: ${(e as Error).message}`);
        return -1;
      }
      end = reader.end;
    }
    let frame: readonly unknown[];
    try {
      frame = decodeFrame(buf.subarray(start, end), isBinary);
    } catch (e) {
      this.#ctx.error(`undecodable frame: ${(e as Error).message}`);
      return end;
    }
    const [name, , meta] = frame;
    const ref = (meta as { ref?: unknown } | undefined)?.ref;
    const w = this.#waiter;
    if (w !== undefined && (w.ref === ref || (w.ref === 'connected' && name === 'connected'))) {
      this.#waiter = undefined;
      w.resolve(frame);
    } else if (name === 'error') this.#ctx.error(`hub error frame: ${JSON.stringify(frame[1]).slice(0, 200)}`);
    else if (name !== 'pong' && name !== 'connected') this.#ctx.otherFrames++;
    return end;
  }

  #onClose(code: number, reason: string): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(new Error(`closed ${code} ${reason}`.trim()));
    if (this.#closing || !this.#ctx.running) return;
    // The server ended the connection (slow consumer, shutdown …): count it, then come back as a user would.
    this.#ctx.serverClosed(code, reason);
    if (w === undefined) {
      this.#retry.outage ??= this.#ctx.outages.begin(monotonicUs());
      this.#retry.schedule(this.#ctx, this.spec.id, () => this.connect(), 50);
    }
  }


  #wait(ref: number | 'connected'): Promise<readonly unknown[]> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#waiter?.ref !== ref) return;
        this.#waiter = undefined;
        reject(new Error(`no ${ref === 'connected' ? '"connected" frame' : 'reply'} within ${this.#ctx.timeoutMs} ms`));
      }, this.#ctx.timeoutMs);
      this.#waiter = {
        ref,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  #request(op: string, args: unknown): Promise<readonly unknown[]> {
    const ref = this.#nextRef++;
    const reply = this.#wait(ref);
    this.#ws!.send(encodeFrame('msgpack', [op, args, ref]));
    return reply;
  }
}
