/**
 * One WebSocket connection: who it is (the token's grant, replaceable by a
 * refresh), its subscriptions, the critical events it has not acked yet, and
 * its backpressure state. Sends go through here so every class of traffic is
 * treated as docs/protocol.md says.
 */
import type { WebSocket } from 'uWebSockets.js';
import { decodePayload, encodeFrame, type Frame, type WireFormat } from '../protocol/codec.ts';
import { CloseCode } from '../protocol/errors.ts';
import type { StreamKey } from '../protocol/subjects.ts';
import { type Grant, grantsSite } from './grant.ts';
import type { LiveEvent } from './live-event.ts';
import type { Redeliverable } from './redelivery-queue.ts';
import type { SessionContext } from './session-context.ts';
import { TokenBucket } from './rate-limiter.ts';
import type { Subscription, SubscriptionKey } from './subscription.ts';
import { batchTopic } from './topic-writer.ts';

/** What uWS keeps per socket: the verified grant (then the session), or why the upgrade was refused. */
export interface SocketData {
  readonly format: WireFormat;
  readonly acks: boolean;
  /** The client reads batch frames (`hub.opt.batch`): it joins the batch variant of each topic. */
  readonly batch?: boolean;
  readonly grant?: Grant;
  session?: Session;
  refusal?: { readonly code: number; readonly reason: string };
  /** Set by uWS's close: a socket can close before the deferred open runs. */
  closed?: boolean;
}

/** JSON sockets join `j:`-prefixed topics: they need other bytes than msgpack sockets. */
export function topicFor(format: WireFormat, topic: string): string {
  return format === 'json' ? `j:${topic}` : topic;
}

export interface SubscriptionState {
  readonly sub: Subscription;
  /** False while a resume replays; live traffic reaches it only once true. */
  live: boolean;
  cancelled: boolean;
}

interface Unacked {
  readonly event: LiveEvent;
  sentAt: number;
}

/** Frames from this size on take uWS's fast path for large sends (see deliver). */
const UWS_LARGE_FRAME = 16 * 1024;

/** uWS send results. */
const BACKPRESSURE = 0;
const DROPPED = 2;

/** Bits of `#redeliveryScheduled`, per log. */
const STREAM_BIT: Record<StreamKey, number> = { site: 1, user: 2, global: 4 };

export class Session implements Redeliverable {
  readonly id: string;
  readonly format: WireFormat;
  /** The client acks critical events (HubClient does); others get them fire-and-forget. */
  readonly acks: boolean;
  /** The client reads batch frames: several frames of a topic may come in one message. */
  readonly batch: boolean;
  grant: Grant;
  readonly #ws: WebSocket<SocketData>;
  readonly #ctx: SessionContext;
  readonly subscriptions = new Map<SubscriptionKey, SubscriptionState>();
  /** When the client last sent anything, on the context's clock (idle sockets are closed). */
  lastSeen: number;
  badFrames = 0;
  /** Operations this connection may still send (HUB_COMMANDS_PER_SECOND, bursts of twice that). */
  readonly commandBudget: TokenBucket;
  closed = false;
  expiryWarned = false;
  /** Over its byte budget: off the uWS topics, served per socket with shedding. */
  slow = false;
  readonly #shedLatest = new Map<string, LiveEvent>();
  readonly #unacked: Record<StreamKey, Unacked[]> = { site: [], user: [], global: [] };
  /** Highest offset of a critical event sent on this connection, per log: the most an ack may cover. */
  readonly #sentUpTo: Record<StreamKey, number> = { site: 0, user: 0, global: 0 };
  /** Catch-ups waiting for the buffer to fall below `below` bytes (woken by uWS's drain, or the close). */
  #drainWaiters: Array<{ readonly below: number; readonly resolve: () => void }> = [];
  /** Logs with an entry in the redelivery queue (one at most per log). */
  #redeliveryScheduled = 0;

  constructor(id: string, grant: Grant, format: WireFormat, acks: boolean, ws: WebSocket<SocketData>, ctx: SessionContext, batch = false) {
    this.id = id;
    this.grant = grant;
    this.format = format;
    this.acks = acks;
    this.batch = batch;
    this.#ws = ws;
    this.#ctx = ctx;
    this.lastSeen = ctx.clock.now();
    this.commandBudget = new TokenBucket(ctx.config.commandsPerSecond, ctx.config.commandsPerSecond * 2, this.lastSeen);
  }

  get bufferedAmount(): number {
    return this.closed ? 0 : this.#ws.getBufferedAmount();
  }

  /** Sends a control frame (reply, error, notice) in this socket's format. */
  send(frame: Frame): void {
    if (this.closed) return;
    const bytes = encodeFrame(this.format, frame);
    this.#ws.cork(() => this.#ws.send(bytes, typeof bytes !== 'string'));
  }

  /** Closes with a documented close code. */
  end(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.#ws.end(code, reason);
    this.#wakeDrainWaiters();
  }

  /** Sends one event directly (replay, critical, slow path). Returns false if the socket was closed for it. */
  deliver(event: LiveEvent): boolean {
    if (this.closed) return false;
    // A critical event moves the client's site position: topic frames held for coalescing (lower offsets) go first.
    if (event.spec.priority === 'critical') this.#ctx.writer.flush();
    const frame = event.frame(this.format);
    const buffered = this.bufferedAmount;
    if (buffered > 0 && buffered + frameSize(frame) > this.#ctx.config.socketHardLimitBytes) {
      // Closed at our hard limit, below uWS's, so the close frame still fits and the client sees 4509.
      this.#ctx.metrics.forcedCloses.inc({ reason: 'hard_limit' });
      this.end(CloseCode.SlowConsumer, 'send buffer full: reconnect and resume');
      return false;
    }
    let result = 0;
    this.#ws.cork(() => {
      result = this.#ws.send(frame, typeof frame !== 'string');
    });
    if (result === DROPPED) {
      this.#ctx.metrics.forcedCloses.inc({ reason: 'buffer_full' });
      this.end(CloseCode.SlowConsumer, 'send buffer full: reconnect and resume');
      return false;
    }
    // uWS 20.30 sends a large frame (≥ 16 KB) into an empty buffer of a socket that is no pub/sub subscriber
    // through a fast path which, when the kernel takes only part of it, buffers the rest without polling for
    // writable: it sat there, with no drain, until something else was sent (a catch-up waiting on drain
    // stalled for good). An empty ping right behind it goes the ordinary way, which flushes and polls.
    if (result === BACKPRESSURE && buffered === 0 && frameSize(frame) >= UWS_LARGE_FRAME) this.#ws.ping();
    // The send result says the socket is behind: over its budget it goes slow now, not at the next sweep
    // (which remains for topic traffic, whose per-socket results uWS does not report).
    if (result === BACKPRESSURE && !this.slow && this.#ws.getBufferedAmount() > this.#ctx.config.socketBudgetBytes) this.goSlow();
    if (event.spec.priority === 'critical') {
      if (event.seq > this.#sentUpTo[event.stream]) this.#sentUpTo[event.stream] = event.seq;
      this.#trackCritical(event);
    }
    return true;
  }

  /** A live event for a slow session: latest-value is conflated, the rest sent (or the socket closed). */
  deliverSlow(event: LiveEvent): void {
    if (event.spec.priority === 'latest' && this.bufferedAmount > this.#ctx.config.socketBudgetBytes) {
      this.#shedLatest.set(conflationKey(event), event);
      this.#ctx.metrics.shed.inc();
      return;
    }
    this.deliver(event);
  }

  /** The hand-over point of a resume: from now on live traffic of `state` reaches this socket. */
  joinLive(state: SubscriptionState): void {
    if (this.closed || state.cancelled) return;
    // Grants are checked where events join a session, whatever happened while it replayed.
    if (state.sub.key.startsWith('site:') && !grantsSite(this.grant, state.sub.key.slice(5))) return;
    state.live = true;
    for (const key of this.#criticalKeysOf(state)) this.#ctx.registry.add(key, this);
    for (const topic of this.#topicsOf(state)) this.#joinTopic(topic);
  }

  leave(state: SubscriptionState): void {
    state.cancelled = true;
    this.subscriptions.delete(state.sub.key);
    if (!state.live) return;
    state.live = false;
    for (const key of this.#criticalKeysOf(state)) this.#ctx.registry.remove(key, this);
    for (const topic of this.#topicsOf(state)) this.#leaveTopic(topic);
  }

  /** Leaves everything (socket closed). */
  leaveAll(): void {
    this.closed = true;
    for (const state of [...this.subscriptions.values()]) this.leave(state);
    this.#wakeDrainWaiters();
  }

  /** The highest offset of `stream` this connection was sent a critical event at. */
  sentUpTo(stream: StreamKey): number {
    return this.#sentUpTo[stream];
  }

  /** Cumulative ack: every critical event of `stream` up to `offset` was handled. */
  ack(stream: StreamKey, offset: number): void {
    const list = this.#unacked[stream];
    let i = 0;
    while (i < list.length && list[i]!.event.seq <= offset) i++;
    if (i > 0) list.splice(0, i);
  }

  /**
   * Called by the redelivery queue: resends the critical events of `stream` unacked for longer than the ack
   * timeout, and returns when the next one falls due (undefined: nothing unacked, nothing scheduled).
   */
  redeliverDue(stream: StreamKey, now: number): number | undefined {
    this.#redeliveryScheduled &= ~STREAM_BIT[stream];
    const list = this.#unacked[stream];
    if (this.closed || list.length === 0) return undefined;
    const timeout = this.#ctx.config.ackTimeoutMs;
    let oldest = now;
    this.#ws.cork(() => {
      for (const u of list) {
        if (now - u.sentAt >= timeout) {
          u.sentAt = now;
          this.#ctx.metrics.redelivered.inc();
          const frame = u.event.frame(this.format);
          this.#ws.send(frame, typeof frame !== 'string');
        }
        if (u.sentAt < oldest) oldest = u.sentAt;
      }
    });
    this.#redeliveryScheduled |= STREAM_BIT[stream];
    return oldest + timeout;
  }

  /**
   * Whether a catch-up (resume, replay) must wait before sending more: half the byte budget is buffered.
   * Catch-up alone then never makes a socket slow, let alone reach its hard limit.
   */
  replayFull(): boolean {
    return !this.closed && this.#ws.getBufferedAmount() >= this.#ctx.config.socketBudgetBytes / 2;
  }

  /** Waits until the socket's buffer drains below the replay budget (or it closes); woken by uWS's drain. */
  drained(): Promise<void> {
    return this.#drainedBelow(this.#ctx.config.socketBudgetBytes / 2);
  }

  /**
   * For a catch-up about to send `event`: undefined if it can go now, else a wait until it fits under the
   * hard limit (an event larger than what is left would otherwise close the socket for its own replay).
   */
  roomFor(event: LiveEvent): Promise<void> | undefined {
    const buffered = this.bufferedAmount;
    const size = frameSize(event.frame(this.format));
    const hardLimit = this.#ctx.config.socketHardLimitBytes;
    if (buffered === 0 || buffered + size <= hardLimit) return undefined;
    // Below 1 byte means empty: a frame larger than the hard limit goes out alone.
    return this.#drainedBelow(Math.max(1, hardLimit - size + 1));
  }

  /**
   * uWS drain: wake catch-ups whose room is there; a slow socket back under half its budget rejoins the fast
   * path. The sweep calls it too, as a safety net: uWS emits `drain` only from a writable event, so a buffer
   * flushed by a later send (uWS issue 1047) drains without one.
   */
  onDrain(buffered = this.bufferedAmount): void {
    if (this.#drainWaiters.length > 0) this.#wakeDrainWaiters(buffered);
    if (this.slow && buffered < this.#ctx.config.socketBudgetBytes / 2) this.goFast();
  }

  #drainedBelow(below: number): Promise<void> {
    if (this.closed || this.bufferedAmount < below) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push({ below, resolve }));
  }

  /** Takes the socket off the uWS topics: from now on its traffic is sent (and shed) per socket. */
  goSlow(): void {
    if (this.slow || this.closed) return;
    this.slow = true;
    this.#ctx.metrics.slowSockets.inc();
    for (const state of this.subscriptions.values()) {
      if (!state.live) continue;
      for (const topic of this.#topicsOf(state)) {
        this.#unsubscribeWs(topic);
        this.#ctx.slowRegistry.add(topic, this);
      }
    }
  }

  /** Back on the fast path; first the newest value of everything shed. */
  goFast(): void {
    if (!this.slow || this.closed) return;
    this.slow = false;
    this.#ctx.metrics.slowSockets.dec();
    const shed = [...this.#shedLatest.values()].sort((a, b) => a.seq - b.seq);
    this.#shedLatest.clear();
    this.#ws.cork(() => {
      for (const e of shed) {
        const frame = e.resyncFrame(this.format);
        this.#ws.send(frame, typeof frame !== 'string');
      }
      for (const state of this.subscriptions.values()) {
        if (!state.live) continue;
        for (const topic of this.#topicsOf(state)) {
          this.#ctx.slowRegistry.remove(topic, this);
          this.#subscribeWs(topic);
        }
      }
    });
  }

  /** Whether a replayed event of `state` is for this session: its subscription covers it and its roles allow it. */
  receives(state: SubscriptionState, event: LiveEvent): boolean {
    // The grant is checked per replayed event as well: a refresh may have revoked the site since the replay began.
    if (event.stream === 'site' && !grantsSite(this.grant, event.owner)) return false;
    return state.sub.matches(event, this.grant) && this.#ctx.permissions.allows(this.grant, event.spec.name);
  }

  /** uWS topics of a subscription under this grant, with the restricted events' own topics its roles allow. */
  #topicsOf(state: SubscriptionState): string[] {
    return state.sub.topics.flatMap((t) => this.#ctx.permissions.topicsFor(t, this.grant));
  }

  #criticalKeysOf(state: SubscriptionState): string[] {
    return state.sub.criticalKeys(this.grant).flatMap((k) => this.#ctx.permissions.topicsFor(k, this.grant));
  }

  #joinTopic(topic: string): void {
    if (this.slow) this.#ctx.slowRegistry.add(topic, this);
    else this.#subscribeWs(topic);
  }

  #leaveTopic(topic: string): void {
    if (this.slow) this.#ctx.slowRegistry.remove(topic, this);
    else if (!this.closed) this.#unsubscribeWs(topic);
  }

  /** Joins the socket's variant of a uWS topic, after what the writer holds for it went out to the members before. */
  #subscribeWs(topic: string): void {
    const t = topicFor(this.format, topic);
    this.#ctx.writer.settle(t);
    this.#ws.subscribe(this.batch ? batchTopic(t) : t);
  }

  /** Leaves it, after what the writer holds for it went out (this socket still a member). */
  #unsubscribeWs(topic: string): void {
    const t = topicFor(this.format, topic);
    this.#ctx.writer.settle(t);
    // uWS 20.30 drops what a socket has pending in its topic tree when it unsubscribes before the tree drains (a
    // publish and an unsubscribe in one tick lost the frames); any send drains the socket first, and an empty
    // ping is the one send every client takes without a word.
    this.#ws.ping();
    this.#ws.unsubscribe(this.batch ? batchTopic(t) : t);
  }

  #trackCritical(event: LiveEvent): void {
    if (!this.acks) return;
    const list = this.#unacked[event.stream];
    // Kept in offset order for cumulative acks. Events almost always arrive in order, so the search from
    // the end stops at once; overlapping replays may send an event twice: it is tracked once.
    let i = list.length;
    while (i > 0 && list[i - 1]!.event.seq > event.seq) i--;
    if (i > 0 && list[i - 1]!.event.seq === event.seq) return;
    const now = this.#ctx.clock.now();
    list.splice(i, 0, { event, sentAt: now });
    if ((this.#redeliveryScheduled & STREAM_BIT[event.stream]) === 0) {
      this.#redeliveryScheduled |= STREAM_BIT[event.stream];
      this.#ctx.redelivery.schedule(this, event.stream, now + this.#ctx.config.ackTimeoutMs);
    }
    if (list.length > this.#ctx.config.maxUnackedCritical) {
      this.#ctx.metrics.forcedCloses.inc({ reason: 'unacked' });
      this.end(CloseCode.SlowConsumer, `more than ${this.#ctx.config.maxUnackedCritical} critical events unacked: reconnect and resume`);
    }
  }

  /** Wakes the waiters whose threshold `buffered` is under (all of them once closed: 0). */
  #wakeDrainWaiters(buffered = 0): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) {
      if (this.closed || buffered < w.below) w.resolve();
      else this.#drainWaiters.push(w);
    }
  }
}

/** Bytes a frame may take in the send buffer (a string at most 3 bytes per UTF-16 unit). */
function frameSize(frame: string | Uint8Array): number {
  return typeof frame === 'string' ? frame.length * 3 : frame.byteLength;
}

/** Latest-value events replace each other per site, event and entity (a vehicle's id). */
function conflationKey(event: LiveEvent): string {
  let entity = '';
  try {
    const data = decodePayload(event.payload) as { id?: unknown; vehicleId?: unknown } | null;
    entity = String(data?.id ?? data?.vehicleId ?? '');
  } catch {
    // An undecodable payload conflates per site and event.
  }
  return `${event.owner}|${event.spec.name}|${entity}`;
}
