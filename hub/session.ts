/**
 * One WebSocket connection: who it is (the token's grant, replaceable by a
 * refresh), its subscriptions and the uWS topics they put it on (critical ones
 * included), its acked positions if it acks, and its backpressure state. Sends
 * go through here so every class of traffic is treated as docs/protocol.md says.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'uWebSockets.js';
import { decodePayload, encodeFrame, type Frame, type WireFormat } from '../protocol/codec.ts';
import { CloseCode } from '../protocol/errors.ts';
import { type StreamKey, topics } from '../protocol/subjects.ts';
import { CriticalPositions } from './critical-positions.ts';
import { criticalStream, criticalTopicOf } from './critical-topic.ts';
import { type Grant, grantsSite } from './grant.ts';
import type { LiveEvent } from './live-event.ts';
import type { SessionContext } from './session-context.ts';
import { type StatesOwner, type SubscriptionState, SubscriptionStates } from './subscription-states.ts';
import { sharedList } from './shared-lists.ts';
import { batchTopic } from './topic-writer.ts';

/**
 * What uWS keeps per socket (it copies these properties onto the socket object itself): the session, made at
 * upgrade, or why the upgrade was refused. One property: each one costs every connection a slot.
 */
export type SocketData = { readonly session: Session; readonly refusal?: undefined } | { readonly session?: undefined; readonly refusal: Refusal };

export interface Refusal {
  readonly code: number;
  readonly reason: string;
  /** Set by uWS's close: a socket can close before the deferred open runs. */
  closed?: boolean;
}

/** JSON sockets join `j:`-prefixed topics: they need other bytes than msgpack sockets. */
export function topicFor(format: WireFormat, topic: string): string {
  return format === 'json' ? `j:${topic}` : topic;
}

export type { SubscriptionState } from './subscription-states.ts';

/** Frames from this size on take uWS's fast path for large sends (see deliver). */
const UWS_LARGE_FRAME = 16 * 1024;

/** uWS send results. */
const BACKPRESSURE = 0;
const DROPPED = 2;

const NO_TOPICS: readonly string[] = [];

/** This process's part of every client id: ids are unique across hubs without a random UUID per connection. */
const CLIENT_ID_PREFIX = randomUUID().slice(0, 24);
let lastSessionNumber = 0;

/** Session's bits. */
const JSON_FORMAT = 1;
const ACKS = 2;
const BATCH = 4;
const CLOSED = 8;
const EXPIRY_WARNED = 16;
const SLOW = 32;
const LOW_BITS = 63;
const BAD_FRAMES_SHIFT = 6;
/** A small integer stays one below 2^30 on every V8 build. */
const BAD_FRAMES_MAX = (1 << (30 - BAD_FRAMES_SHIFT)) - 1;

/** The first clock reading of this process: session times are kept as small integers after it. */
let timeBase: number | undefined;

/**
 * `at` after timeBase, as a small integer when it is one: a difference of two clock readings is a double to V8
 * (an integral one too), and one double stored makes the field a heap number box in every session.
 */
function sinceBase(at: number): number {
  const d = at - timeBase!;
  return d === (d | 0) ? d | 0 : d;
}

/**
 * One connection's state. What a feature needs is allocated when the feature is first used (shed values,
 * unacked events, drain waiters): an idle subscribed connection holds a few fields and two small objects.
 * Its helper methods are TypeScript-private, not `#`: a class with `#` methods gives every instance a brand
 * slot (8 bytes a connection).
 */
export class Session implements StatesOwner {
  /** Numeric; the client id string is derived from it when asked (see `id`). */
  readonly #number = ++lastSessionNumber;
  /** The booleans below and the bad frame count, packed: one small integer instead of a slot each. */
  #bits: number;
  grant: Grant;
  /** Set by `open` (the session is made at upgrade, before uWS has a socket for it). */
  #ws!: WebSocket<SocketData>;
  readonly #ctx: SessionContext;
  /** The first of its subscription states, linked through them (see SubscriptionStates; no holder object per connection). */
  firstState: SubscriptionState | undefined = undefined;
  /**
   * `lastSeen` and `deadlineAt` as milliseconds after TIME_BASE: small integers, where a clock reading (~1.8e12)
   * is a heap number of 16 bytes per field and session (a hub running past ~24 days gets those again).
   */
  #seenAt: number;
  #deadlineAt = 0;
  /** Operations this connection may still send, in thousandths (an integer, so no boxed number per session). */
  #commandBudget: number;
  /** Shed values and drain waiters, made when first needed and dropped when both are gone (see Behind). */
  #behind: Behind | undefined;
  /** The critical topics its live subscriptions put it on: a short array shared with the sessions that have the same (sharedList). */
  #critical: readonly string[] = NO_TOPICS;
  /** Acked positions, for a socket that acks; others get critical events fire-and-forget. */
  readonly #positions: CriticalPositions | undefined;
  /** The gateway's list of open sessions, linked through them (no Set entry per connection): see OpenSessions. */
  prevOpen: Session | undefined = undefined;
  nextOpen: Session | undefined = undefined;

  /** Made at upgrade; `open` gives it its socket. `batch`: the client reads batch frames (`hub.opt.batch`). */
  constructor(grant: Grant, format: WireFormat, acks: boolean, batch: boolean, ctx: SessionContext) {
    this.grant = grant;
    this.#bits = (format === 'json' ? JSON_FORMAT : 0) | (acks ? ACKS : 0) | (batch ? BATCH : 0);
    this.#ctx = ctx;
    const now = ctx.clock.now();
    timeBase ??= now;
    this.#seenAt = sinceBase(now);
    this.#commandBudget = ctx.config.commandsPerSecond * 2 * 1000;
    this.#positions = acks ? new CriticalPositions(this, ctx) : undefined;
  }

  /** Its subscriptions: a view over the list starting at `firstState`, made per call (subscribing and closing are rare). */
  get subscriptions(): SubscriptionStates {
    return new SubscriptionStates(this);
  }

  get format(): WireFormat {
    return (this.#bits & JSON_FORMAT) !== 0 ? 'json' : 'msgpack';
  }

  /** The client acks critical events (HubClient does); others get them fire-and-forget. */
  get acks(): boolean {
    return (this.#bits & ACKS) !== 0;
  }

  /** The client reads batch frames: several frames of a topic may come in one message. */
  get batch(): boolean {
    return (this.#bits & BATCH) !== 0;
  }

  get closed(): boolean {
    return (this.#bits & CLOSED) !== 0;
  }

  set closed(value: boolean) {
    this.#bits = value ? this.#bits | CLOSED : this.#bits & ~CLOSED;
  }

  get expiryWarned(): boolean {
    return (this.#bits & EXPIRY_WARNED) !== 0;
  }

  set expiryWarned(value: boolean) {
    this.#bits = value ? this.#bits | EXPIRY_WARNED : this.#bits & ~EXPIRY_WARNED;
  }

  /** Over its byte budget: off the uWS topics, served per socket with shedding. */
  get slow(): boolean {
    return (this.#bits & SLOW) !== 0;
  }

  set slow(value: boolean) {
    this.#bits = value ? this.#bits | SLOW : this.#bits & ~SLOW;
  }

  /** Frames refused so far (the gateway closes at HUB_MAX_BAD_FRAMES; the count stops at BAD_FRAMES_MAX). */
  get badFrames(): number {
    return this.#bits >>> BAD_FRAMES_SHIFT;
  }

  set badFrames(n: number) {
    this.#bits = (this.#bits & LOW_BITS) | (Math.min(Math.max(0, n), BAD_FRAMES_MAX) << BAD_FRAMES_SHIFT);
  }

  /** When the client last sent anything, on the context's clock (idle sockets are closed); also when the command budget was last refilled. */
  get lastSeen(): number {
    return timeBase! + this.#seenAt;
  }

  /** When SessionDeadlines looks at it next (its one live entry there). */
  get deadlineAt(): number {
    return timeBase! + this.#deadlineAt;
  }

  set deadlineAt(at: number) {
    this.#deadlineAt = sinceBase(at);
  }

  /** The socket uWS opened for this session. */
  open(ws: WebSocket<SocketData>): void {
    this.#ws = ws;
  }

  /** The client id (a string on the wire, unique across hubs): made when asked, not kept. */
  get id(): string {
    return `${CLIENT_ID_PREFIX}${this.#number.toString(16).padStart(12, '0')}`;
  }

  /**
   * A frame arrived at `now`: takes one operation from the command budget (HUB_COMMANDS_PER_SECOND, bursts of
   * twice that), refilled since the last frame. False when none is left.
   */
  takeCommand(now: number): boolean {
    const rate = this.#ctx.config.commandsPerSecond;
    this.#commandBudget = Math.min(rate * 2000, this.#commandBudget + Math.floor((now - this.lastSeen) * rate));
    this.#seenAt = sinceBase(now);
    if (this.#commandBudget < 1000) return false;
    this.#commandBudget -= 1000;
    return true;
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

  /** A refreshed token: its expiry (and warning) count from now on. */
  replaceGrant(grant: Grant): void {
    this.grant = grant;
    this.expiryWarned = false;
    this.#ctx.deadlines.reschedule(this);
  }

  /** A catch-up waits for uWS's drain. */
  get waitsForDrain(): boolean {
    const waiters = this.#behind?.waiters;
    return waiters !== undefined && waiters.length > 0;
  }

  /** Closes with a documented close code. */
  end(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.#ws.end(code, reason);
    this.wakeDrainWaiters();
  }

  /**
   * Sends one event by itself (resume, redelivery, slow path). Returns false if it was not sent: the socket
   * was closed for it, or the event has no frame in this socket's format (a payload JSON cannot carry).
   * `live`: a live event a slow socket gets instead of its topic; its topic keeps its ack timeout.
   */
  deliver(event: LiveEvent, live = false): boolean {
    if (this.closed) return false;
    // A critical event moves the client's site position: topic frames held for coalescing (lower offsets) go first.
    if (event.spec.priority === 'critical') this.#ctx.writer.flush();
    let frame: string | Uint8Array;
    try {
      frame = event.frame(this.format);
    } catch {
      // One event this socket cannot take must not stop its catch-up, nor anyone else's delivery.
      return false;
    }
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
    // Looked at by the next buffer check: per-socket sends are not in the topic byte count.
    this.#ctx.buffers.watch(this);
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
    // The send result says the socket is behind: over its budget it goes slow now, not at the next buffer
    // check (which remains for topic traffic, whose per-socket results uWS does not report).
    if (result === BACKPRESSURE && !this.slow && this.#ws.getBufferedAmount() > this.#ctx.config.socketBudgetBytes) this.goSlow();
    if (!live && this.#positions !== undefined && event.spec.priority === 'critical') this.#positions.sent(event.stream, event.seq);
    return true;
  }

  /** A live event for a slow session: latest-value is conflated, the rest sent (or the socket closed). */
  deliverSlow(event: LiveEvent): void {
    if (event.spec.priority === 'latest' && this.bufferedAmount > this.#ctx.config.socketBudgetBytes) {
      (this.behindNow().shed ??= new Map()).set(conflationKey(event), event);
      this.#ctx.metrics.shed.inc();
      return;
    }
    this.deliver(event, true);
  }

  /** The hand-over point of a resume: from now on live traffic of `state` reaches this socket. */
  joinLive(state: SubscriptionState): void {
    if (this.closed || state.cancelled) return;
    // Grants are checked where events join a session, whatever happened while it replayed.
    if (state.sub.key.startsWith('site:') && !grantsSite(this.grant, state.sub.key.slice(5))) return;
    state.live = true;
    for (const topic of this.topicsOf(state)) this.joinTopic(topic);
    this.syncCritical();
    // Its resume is over: nothing of it is this session's any more (a shared cell holds it from now on).
    this.subscriptions.settle(state);
  }

  leave(state: SubscriptionState): void {
    state.cancelled = true;
    this.subscriptions.delete(state.sub.key);
    if (!state.live) return;
    state.live = false;
    for (const topic of this.topicsOf(state)) this.leaveTopic(topic);
    this.syncCritical();
  }

  /** Leaves everything (socket closed). */
  leaveAll(): void {
    this.closed = true;
    for (const state of this.subscriptions.values()) this.leave(state);
    this.wakeDrainWaiters();
  }

  /**
   * The highest offset of `stream` this connection was sent a critical event at: the most an ack may cover.
   * Derived: what it was sent by itself, and the newest offset each of its critical topics carried since it
   * joined. Sockets that do not ack are not tracked (0).
   */
  sentUpTo(stream: StreamKey): number {
    const positions = this.#positions;
    if (positions === undefined) return 0;
    return Math.max(positions.sentDirect(stream), this.#ctx.critical.sentTo(positions, this.#critical, stream));
  }

  /** Cumulative ack: every critical event of `stream` up to `offset` was handled. */
  ack(stream: StreamKey, offset: number): void {
    this.#positions?.ack(stream, offset);
  }

  /** Whether a critical event of the log is this socket's now: one of its critical topics carries it. */
  receivesCritical(event: LiveEvent): boolean {
    const critical = this.#critical;
    if (critical.length === 0 || event.spec.priority !== 'critical') return false;
    // The grant is checked here too: a redelivery may run across a refresh that revoked the site.
    if (event.stream === 'site' && !grantsSite(this.grant, event.owner)) return false;
    const name = event.spec.name;
    const { permissions } = this.#ctx;
    if (critical.includes(permissions.topic(criticalTopicOf(event), name))) return true;
    return event.stream === 'site' && critical.includes(permissions.topic(topics.allAlarms, name));
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
    return this.drainedBelow(this.#ctx.config.socketBudgetBytes / 2);
  }

  /**
   * For a catch-up about to send `event`: undefined if it can go now, else a wait until it fits under the
   * hard limit (an event larger than what is left would otherwise close the socket for its own replay).
   */
  roomFor(event: LiveEvent): Promise<void> | undefined {
    const buffered = this.bufferedAmount;
    let size: number;
    try {
      size = frameSize(event.frame(this.format));
    } catch {
      return undefined; // no frame in this format: deliver skips it
    }
    const hardLimit = this.#ctx.config.socketHardLimitBytes;
    if (buffered === 0 || buffered + size <= hardLimit) return undefined;
    // Below 1 byte means empty: a frame larger than the hard limit goes out alone.
    return this.drainedBelow(Math.max(1, hardLimit - size + 1));
  }

  /**
   * uWS drain: wake catch-ups whose room is there; a slow socket back under half its budget rejoins the fast
   * path. The sweep calls it too, as a safety net: uWS emits `drain` only from a writable event, so a buffer
   * flushed by a later send (uWS issue 1047) drains without one.
   */
  onDrain(buffered = this.bufferedAmount): void {
    if (this.#behind?.waiters !== undefined) this.wakeDrainWaiters(buffered);
    if (this.slow && buffered < this.#ctx.config.socketBudgetBytes / 2) this.goFast();
  }

  private drainedBelow(below: number): Promise<void> {
    if (this.closed || this.bufferedAmount < below) return Promise.resolve();
    this.#ctx.buffers.watch(this);
    return new Promise((resolve) => (this.behindNow().waiters ??= []).push({ below, resolve }));
  }

  /** Takes the socket off the uWS topics: from now on its traffic is sent (and shed) per socket. */
  goSlow(): void {
    if (this.slow || this.closed) return;
    this.slow = true;
    this.#ctx.metrics.slowSockets.inc();
    this.#ctx.buffers.watch(this);
    for (const topic of this.liveTopics()) {
      this.unsubscribeWs(topic);
      this.#ctx.slowRegistry.add(topic, this);
    }
  }

  /** Back on the fast path; first the newest value of everything shed. */
  goFast(): void {
    if (!this.slow || this.closed) return;
    this.slow = false;
    this.#ctx.metrics.slowSockets.dec();
    const shedLatest = this.#behind?.shed;
    const shed = shedLatest === undefined ? [] : [...shedLatest.values()].sort((a, b) => a.seq - b.seq);
    if (shedLatest !== undefined) this.#behind!.shed = undefined;
    this.dropBehindIfDone();
    this.#ws.cork(() => {
      for (const e of shed) {
        const frame = e.resyncFrame(this.format);
        this.#ws.send(frame, typeof frame !== 'string');
      }
      for (const topic of this.liveTopics()) {
        this.#ctx.slowRegistry.remove(topic, this);
        this.subscribeWs(topic);
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
  private topicsOf(state: SubscriptionState): string[] {
    return state.sub.topics.flatMap((t) => this.#ctx.permissions.topicsFor(t, this.grant));
  }

  /** Every topic the socket is on: its live subscriptions' normal and latest-value ones, and its critical ones. */
  private liveTopics(): string[] {
    const out: string[] = [];
    for (const state of this.subscriptions.values()) if (state.live) out.push(...this.topicsOf(state));
    out.push(...this.#critical);
    return out;
  }

  /**
   * Puts the socket on the critical topics its live subscriptions cover under its grant, and off the others.
   * Each critical event reaches it through one topic only: `alarm/*` (every site's alarms) replaces the
   * per-site alarm topics, so a site subscription beside the alarm feed does not double them.
   */
  private syncCritical(): void {
    const want = new Set<string>();
    if (!this.closed) {
      for (const state of this.subscriptions.values()) {
        if (!state.live) continue;
        for (const key of state.sub.criticalKeys(this.grant)) for (const topic of this.#ctx.permissions.topicsFor(key, this.grant)) want.add(topic);
      }
      if (want.has(topics.allAlarms)) for (const topic of want) if (topic.startsWith('site/')) want.delete(topic);
    }
    const had = this.#critical;
    const have = new Set(had);
    for (const topic of had) if (!want.has(topic)) this.leaveCritical(topic);
    for (const topic of want) if (!have.has(topic)) this.joinCritical(topic);
    this.#critical = want.size > 0 ? sharedList([...want]) : NO_TOPICS;
  }

  private joinCritical(topic: string): void {
    this.joinTopic(topic);
    const positions = this.#positions;
    if (positions === undefined) return;
    const stream = criticalStream(topic);
    const at = this.#ctx.livePosition(stream);
    this.#ctx.critical.join(topic, stream, positions, at);
    positions.joined(stream, at);
  }

  private leaveCritical(topic: string): void {
    this.leaveTopic(topic);
    const positions = this.#positions;
    if (positions === undefined) return;
    const left = this.#ctx.critical.leave(topic, positions);
    if (left !== undefined) positions.left(criticalStream(topic), left.last, left.joinedAt);
  }

  private joinTopic(topic: string): void {
    if (this.slow) this.#ctx.slowRegistry.add(topic, this);
    else this.subscribeWs(topic);
  }

  private leaveTopic(topic: string): void {
    if (this.slow) this.#ctx.slowRegistry.remove(topic, this);
    else if (!this.closed) this.unsubscribeWs(topic);
  }

  /** Joins the socket's variant of a uWS topic, after what the writer holds for it went out to the members before. */
  private subscribeWs(topic: string): void {
    const t = topicFor(this.format, topic);
    this.#ctx.writer.settle(t);
    this.#ws.subscribe(this.batch ? batchTopic(t) : t);
  }

  /** Leaves it, after what the writer holds for it went out (this socket still a member). */
  private unsubscribeWs(topic: string): void {
    const t = topicFor(this.format, topic);
    this.#ctx.writer.settle(t);
    // uWS 20.30 drops what a socket has pending in its topic tree when it unsubscribes before the tree drains (a
    // publish and an unsubscribe in one tick lost the frames); any send drains the socket first, and an empty
    // ping is the one send every client takes without a word.
    this.#ws.ping();
    this.#ws.unsubscribe(this.batch ? batchTopic(t) : t);
  }

  /** Wakes the waiters whose threshold `buffered` is under (all of them once closed: 0). */
  private wakeDrainWaiters(buffered = 0): void {
    const waiters = this.#behind?.waiters;
    if (waiters === undefined) return;
    this.#behind!.waiters = undefined;
    for (const w of waiters) {
      if (this.closed || buffered < w.below) w.resolve();
      else (this.behindNow().waiters ??= []).push(w);
    }
    this.dropBehindIfDone();
  }

  private behindNow(): Behind {
    return (this.#behind ??= { shed: undefined, waiters: undefined });
  }

  private dropBehindIfDone(): void {
    const b = this.#behind;
    if (b !== undefined && b.shed === undefined && b.waiters === undefined) this.#behind = undefined;
  }
}

/**
 * What a session behind its socket holds: latest values shed while slow (sent, newest first, when it is fast
 * again), and catch-ups waiting for the buffer to fall below `below` bytes (woken by uWS's drain, or the
 * close). One field of the session for both, made when first needed: an idle connection has neither.
 */
interface Behind {
  shed: Map<string, LiveEvent> | undefined;
  waiters: Array<{ readonly below: number; readonly resolve: () => void }> | undefined;
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
