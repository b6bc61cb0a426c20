/**
 * One simulated user, whatever protocol it speaks: connects and subscribes to
 * its site, checks every event it receives, and can be dropped, stalled or
 * closed by the scenario. Outages (a drop, or the server closing the socket) are
 * timed until the client is subscribed again and until it has caught up.
 */
import { createHistogram, encodeHistogram, recordUs } from '../latency-histogram.ts';
import { SequenceCheck } from '../sequence-check.ts';
import type { DeliveryStats } from './delivery-stats.ts';
import type { ClientSpec, ReconnectReport } from './worker-protocol.ts';

export interface BenchClient {
  readonly spec: ClientSpec;
  readonly check: SequenceCheck;
  /** Connects and subscribes; rejects with the reason it could not. */
  connect(): Promise<void>;
  /** Drops the connection without a closing handshake, then reconnects after `afterMs`. */
  drop(afterMs: number): void;
  /** Stops reading (the server's sends pile up), or reads again. */
  pause(): void;
  resume(): void;
  /** An application-level heartbeat, so idle timeouts do not end long runs. */
  ping(): void;
  close(): void;
}

/** What the clients of one worker share. */
export class ClientContext {
  readonly stats: DeliveryStats;
  readonly host: string;
  readonly port: number;
  readonly timeoutMs: number;
  /** Subscribe with the last offset and epoch after an outage (the hub's resume). */
  readonly resume: boolean;
  /** Offer `hub.opt.acks` and ack the alarms received. */
  readonly ack: boolean;
  readonly outages = new OutageTracker();
  readonly serverCloses = new Map<string, number>();
  readonly errors: string[] = [];
  readonly epochs = new Set<string>();
  otherFrames = 0;
  /** False once the run is over: closes are then expected and not reconnected. */
  running = true;

  constructor(stats: DeliveryStats, host: string, port: number, timeoutMs: number, resume: boolean, ack: boolean) {
    this.stats = stats;
    this.host = host;
    this.port = port;
    this.timeoutMs = timeoutMs;
    this.resume = resume;
    this.ack = ack;
  }

  error(message: string): void {
    // Keep a sample, not a flood.
    if (this.errors.length < 20) this.errors.push(message);
  }

  serverClosed(code: number, reason: string): void {
    const key = reason === '' ? String(code) : `${code} ${reason}`;
    this.serverCloses.set(key, (this.serverCloses.get(key) ?? 0) + 1);
  }
}

/** Most reconnects one client makes in a run, so a server that keeps closing it cannot loop it forever. */
export const MAX_RECONNECTS = 5;

/** One outage of one client. */
export class Outage {
  subscribedAtUs = -1;
  caughtUp = false;

  constructor(readonly startedAtUs: number) {}
}

export class OutageTracker {
  drops = 0;
  reconnected = 0;
  failed = 0;
  notCaughtUp = 0;
  recoveredTrue = 0;
  recoveredFalse = 0;
  recoveredUnknown = 0;
  readonly #reconnect = createHistogram();
  readonly #caughtUp = createHistogram();
  readonly #open = new Set<Outage>();

  begin(nowUs: number): Outage {
    this.drops++;
    const o = new Outage(nowUs);
    this.#open.add(o);
    return o;
  }

  subscribed(o: Outage, nowUs: number, recovered: unknown): void {
    this.reconnected++;
    o.subscribedAtUs = nowUs;
    recordUs(this.#reconnect, nowUs - o.startedAtUs);
    if (recovered === true) this.recoveredTrue++;
    else if (recovered === false) this.recoveredFalse++;
    else this.recoveredUnknown++;
  }

  caughtUp(o: Outage, nowUs: number): void {
    o.caughtUp = true;
    this.#open.delete(o);
    recordUs(this.#caughtUp, nowUs - o.startedAtUs);
  }

  gaveUp(o: Outage): void {
    this.failed++;
    this.#open.delete(o);
  }

  report(): ReconnectReport {
    return {
      drops: this.drops,
      reconnected: this.reconnected,
      failed: this.failed,
      reconnectHistogram: encodeHistogram(this.#reconnect),
      caughtUpHistogram: encodeHistogram(this.#caughtUp),
      notCaughtUp: this.notCaughtUp + this.#open.size,
      recoveredTrue: this.recoveredTrue,
      recoveredFalse: this.recoveredFalse,
      recoveredUnknown: this.recoveredUnknown,
    };
  }
}
