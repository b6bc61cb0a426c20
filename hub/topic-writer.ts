/**
 * Write coalescing per group of uWS topics. `publish(topic, frame, isBinary)` has the shape of
 * uWS's `app.publish`, but holds the frame: every frame a group (a site's topics) gets within
 * one tick (one batch of the log's consumer), or within the write delay from its first one,
 * goes out in one flush. Sockets that read batch frames (`hub.opt.batch`) join each topic's
 * batch variant and get a run of frames as one message `["batch", [frame, …]]` (a lone frame
 * as it is); the others get the frames one by one, which uWS still writes to each socket in
 * one write per loop turn.
 *
 * Contracts:
 * - Order is kept per group of topics (a site's: `site/<id>`, `site/<id>/alarm`, their `|event`
 *   and `j:` variants): one window holds them all and a flush publishes them in the order they
 *   came, a batch per run of frames to one topic. A socket in several of a site's topics thus
 *   gets the site's events in offset order, as HubClient's per-site high-water mark needs.
 *   A batch is built once and shared by all its topic's batch sockets (encode once, fan out bytes).
 * - Membership changes must `settle(topic)` first (Session does): what was published before a
 *   socket joins never reaches it, what was published before it leaves does. uWS 20.30 gives a
 *   joining socket nothing published before, but drops what a leaving socket has pending: the
 *   caller makes uWS drain that socket before it unsubscribes (Session pings it).
 * - A frame sent to a socket directly (not through a topic) may overtake held frames. When it
 *   must not (a critical event advances a client's position past them), `flush()` first.
 * - Delay 0 flushes in a microtask: within the tick that published, never later.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import { encodeBatch } from '../protocol/codec.ts';
import type { Clock } from './clock.ts';

/** The uWS topic that batch-reading sockets join in place of `topic`. */
export function batchTopic(topic: string): string {
  return `b:${topic}`;
}

/** The window a topic shares: its first two segments, without format prefix or event suffix (`j:site/7/latest|x` → `site/7`). */
export function topicGroup(topic: string): string {
  const from = topic.startsWith('j:') ? 2 : 0;
  const slash = topic.indexOf('/', topic.indexOf('/', from) + 1);
  const bar = topic.indexOf('|', from);
  const end = slash < 0 ? (bar < 0 ? topic.length : bar) : bar < 0 ? slash : Math.min(slash, bar);
  return topic.slice(from, end);
}

/** Whether a queued window is still the one its group has open. */
function live(d: Due): boolean {
  return d.group.queued && d.group.dueAt === d.dueAt;
}

/** Past this many bytes held for one group, it is flushed at once: bounds memory and message size. */
const MAX_BATCH_BYTES = 64 * 1024;

/** Frames of one wire format held by a group, with the topic each was published to, in publishing order. */
interface Lane {
  readonly topics: string[];
  readonly frames: (Uint8Array | string)[];
}

/** What one group holds; kept per group and reused, so a window allocates nothing but its frames' slots. */
interface Group {
  readonly binary: Lane;
  readonly text: Lane;
  bytes: number;
  /** When the window opened by its first frame closes (clock time). */
  dueAt: number;
  /** A window is open: frames wait for its close (the `#due` entry with this `dueAt`), a flush, or a settle. */
  queued: boolean;
  /** When the group's last frame came, and how long before it the one before it came (clock time). */
  lastAt: number;
  interval: number;
}

/** A window in the queue; stale once its group was flushed earlier (its `dueAt` or `queued` no longer match). */
interface Due {
  readonly group: Group;
  readonly dueAt: number;
}

export class TopicWriter {
  readonly #app: TemplatedApp;
  readonly #clock: Clock;
  /** 0: flush within the tick; more: hold a group's frames this long from its first one. */
  readonly delayMs: number;
  /** A window closes early once a lane holds this many frames: the wait is bounded by the events, not only the delay. */
  readonly maxFrames: number;
  readonly #groups = new Map<string, Group>();
  /** Per topic: its group and batch variant, worked out once. */
  readonly #topics = new Map<string, { readonly group: Group; readonly batchTopic: string }>();
  /** Windows in the order they opened; with one delay for all, the order they fall due. */
  #due: Due[] = [];
  #cancelTimer: (() => void) | undefined;
  #microtask = false;
  #closed = false;
  /** Flushes that sent at least one frame, and the frames they sent: frames/flushes is the coalescing. */
  flushes = 0;
  frames = 0;

  constructor(app: TemplatedApp, delayMs: number, clock: Clock, maxFrames = 16) {
    this.#app = app;
    this.delayMs = delayMs;
    this.maxFrames = maxFrames;
    this.#clock = clock;
  }

  /** Whether any socket listens to `topic` (either variant): callers skip encoding frames nobody gets. */
  listened(topic: string): boolean {
    return this.#app.numSubscribers(topic) > 0 || this.#app.numSubscribers(this.#topic(topic).batchTopic) > 0;
  }

  /** Holds `frame` for `topic` until its group's next flush. */
  publish(topic: string, frame: Uint8Array | string, isBinary: boolean): void {
    if (this.#closed) return;
    const g = this.#topic(topic).group;
    const now = this.#clock.now();
    g.interval = now - g.lastAt;
    g.lastAt = now;
    if (!g.queued) {
      g.dueAt = now + this.delayMs;
      g.queued = true;
      this.#due.push({ group: g, dueAt: g.dueAt });
      this.#arm();
    }
    const lane = isBinary ? g.binary : g.text;
    lane.topics.push(topic);
    lane.frames.push(frame);
    g.bytes += frame.length;
    // The window closes with this frame when the next one, expected one interval later, would miss it anyway:
    // the wait is then the events' own spacing, not the whole delay (a lone event after a pause waits nothing).
    if (g.bytes >= MAX_BATCH_BYTES || lane.frames.length >= this.maxFrames || (this.delayMs > 0 && now + g.interval >= g.dueAt)) this.#flush(g);
  }

  /**
   * Publishes `frame` at once to both variants of `topic`, after everything held: a critical event moves a
   * client's position past what its sites' windows hold (and may come on a topic of another group, `alarm/*`).
   */
  publishNow(topic: string, frame: Uint8Array | string, isBinary: boolean): void {
    if (this.#closed) return;
    this.flush();
    const app = this.#app;
    if (app.numSubscribers(topic) > 0) app.publish(topic, frame, isBinary);
    const batch = this.#topic(topic).batchTopic;
    if (app.numSubscribers(batch) > 0) app.publish(batch, frame, isBinary);
  }

  /** Sends what `topic`'s group holds now (before a socket joins or leaves the topic). */
  settle(topic: string): void {
    const g = this.#topics.get(topic)?.group;
    if (g !== undefined) this.#flush(g);
  }

  /** Sends everything held, group by group in the order their windows opened. */
  flush(): void {
    if (this.#due.length === 0) return;
    const due = this.#due;
    this.#due = [];
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    for (const d of due) if (live(d)) this.#flush(d.group);
  }

  /** Drops what is held and stops the timer (the hub is stopping; its sockets resume elsewhere). */
  close(): void {
    this.#closed = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    for (const { group } of this.#due) for (const lane of [group.binary, group.text]) lane.topics.length = lane.frames.length = 0;
    this.#due = [];
  }

  #topic(topic: string): { readonly group: Group; readonly batchTopic: string } {
    let t = this.#topics.get(topic);
    if (t === undefined) {
      const key = topicGroup(topic);
      let group = this.#groups.get(key);
      if (group === undefined) this.#groups.set(key, (group = { binary: { topics: [], frames: [] }, text: { topics: [], frames: [] }, bytes: 0, dueAt: 0, queued: false, lastAt: Number.NEGATIVE_INFINITY, interval: 0 }));
      this.#topics.set(topic, (t = { group, batchTopic: batchTopic(topic) }));
    }
    return t;
  }

  #arm(): void {
    if (this.delayMs === 0) {
      if (this.#microtask) return;
      this.#microtask = true;
      // One flush per batch of the consumer: its messages are handed on synchronously, one after the other.
      queueMicrotask(() => {
        this.#microtask = false;
        if (!this.#closed) this.flush();
      });
      return;
    }
    if (this.#cancelTimer !== undefined) return;
    const head = this.#due[0]!;
    this.#cancelTimer = this.#clock.schedule(() => this.#onTimer(), Math.max(0, head.dueAt - this.#clock.now()));
  }

  /** Flushes the groups whose window has closed, then waits for the next one. */
  #onTimer(): void {
    this.#cancelTimer = undefined;
    if (this.#closed) return;
    const now = this.#clock.now();
    let i = 0;
    for (; i < this.#due.length && this.#due[i]!.dueAt <= now; i++) if (live(this.#due[i]!)) this.#flush(this.#due[i]!.group);
    // Copying the rest is cheap: the queue is at most one entry per group.
    if (i > 0) this.#due = this.#due.slice(i);
    if (this.#due.length > 0) this.#arm();
  }

  /** Sends what a group holds and closes its window: the next frame opens a new one. */
  #flush(g: Group): void {
    g.queued = false;
    const n = g.binary.frames.length + g.text.frames.length;
    if (n === 0) return;
    this.#flushLane(g.binary, true);
    this.#flushLane(g.text, false);
    g.bytes = 0;
    this.flushes++;
    this.frames += n;
  }

  /**
   * Publishes a lane in order: single-frame sockets get each frame, batch sockets one message per run of frames
   * to the same topic. uWS hands a socket what was published to its topics in publishing order, so a socket in
   * several topics of the group gets them interleaved as they came.
   */
  #flushLane(lane: Lane, isBinary: boolean): void {
    const { topics, frames } = lane;
    const n = frames.length;
    const app = this.#app;
    for (let start = 0; start < n; ) {
      const topic = topics[start]!;
      let end = start + 1;
      while (end < n && topics[end] === topic) end++;
      // Single-frame sockets get the frames one by one: uWS still writes a socket's messages of one loop turn at once.
      if (app.numSubscribers(topic) > 0) for (let i = start; i < end; i++) app.publish(topic, frames[i]!, isBinary);
      const batch = this.#topics.get(topic)!.batchTopic;
      if (app.numSubscribers(batch) > 0) {
        // Built once per run and shared by every batch socket of the topic; a lone frame goes as it is.
        const run = end - start === 1 ? frames[start]! : isBinary ? encodeBatch('msgpack', frames.slice(start, end) as Uint8Array[]) : encodeBatch('json', frames.slice(start, end) as string[]);
        app.publish(batch, run, isBinary);
      }
      start = end;
    }
    topics.length = 0;
    frames.length = 0;
  }
}
