/**
 * Write coalescing per uWS topic. `publish(topic, frame, isBinary)` has the shape of uWS's
 * `app.publish`, but holds the frame: every frame a topic gets within one tick (one batch of
 * the log's consumer), or within the write delay from its first one, goes out in one flush.
 * Sockets that read batch frames (`hub.opt.batch`) join the topic's batch variant and get the
 * flush as one message `["batch", [frame, …]]` (a lone frame as it is); the others get the
 * frames one by one, which uWS still writes to each socket in one write per loop turn.
 *
 * Contracts:
 * - Order is kept per topic: frames leave in the order they were published, and a topic's
 *   batch is built once and shared by all its batch sockets (encode once, fan out bytes).
 * - Membership changes must `settle(topic)` first (Session does): what was published before a
 *   socket joins never reaches it, what was published before it leaves does. uWS keeps the
 *   same rule for its own pending messages (it drains the tree on subscribe and unsubscribe).
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

/** Past this many bytes held for one topic, it is flushed at once: bounds memory and message size. */
const MAX_BATCH_BYTES = 64 * 1024;

/** What one topic holds; kept per topic and reused, so a window allocates nothing but its frames' slots. */
interface TopicBuffer {
  readonly topic: string;
  readonly batchTopic: string;
  readonly isBinary: boolean;
  readonly frames: (Uint8Array | string)[];
  bytes: number;
  /** When the window opened by its first frame closes (clock time). */
  dueAt: number;
  /** In `#due`: at most once, so a settled topic that fills again keeps its place (and closes no later). */
  queued: boolean;
}

export class TopicWriter {
  readonly #app: TemplatedApp;
  readonly #clock: Clock;
  /** 0: flush within the tick; more: hold a topic's frames this long from its first one. */
  readonly delayMs: number;
  readonly #topics = new Map<string, TopicBuffer>();
  /** Topics holding frames, in the order their windows opened; with one delay for all, the order they fall due. */
  #due: TopicBuffer[] = [];
  #cancelTimer: (() => void) | undefined;
  #microtask = false;
  #closed = false;
  /** Flushes that sent at least one frame, and the frames they sent: frames/flushes is the coalescing. */
  flushes = 0;
  frames = 0;

  constructor(app: TemplatedApp, delayMs: number, clock: Clock) {
    this.#app = app;
    this.delayMs = delayMs;
    this.#clock = clock;
  }

  /** Whether any socket listens to `topic` (either variant): callers skip encoding frames nobody gets. */
  listened(topic: string): boolean {
    const b = this.#topics.get(topic);
    return this.#app.numSubscribers(topic) > 0 || this.#app.numSubscribers(b === undefined ? batchTopic(topic) : b.batchTopic) > 0;
  }

  /** Holds `frame` for `topic` until the topic's next flush. */
  publish(topic: string, frame: Uint8Array | string, isBinary: boolean): void {
    if (this.#closed) return;
    let b = this.#topics.get(topic);
    if (b === undefined) this.#topics.set(topic, (b = { topic, batchTopic: batchTopic(topic), isBinary, frames: [], bytes: 0, dueAt: 0, queued: false }));
    if (b.frames.length === 0 && !b.queued) {
      b.dueAt = this.#clock.now() + this.delayMs;
      b.queued = true;
      this.#due.push(b);
      this.#arm();
    }
    b.frames.push(frame);
    b.bytes += frame.length;
    if (b.bytes >= MAX_BATCH_BYTES) this.#flush(b);
  }

  /** Sends what `topic` holds now (before a socket joins or leaves it). */
  settle(topic: string): void {
    const b = this.#topics.get(topic);
    if (b !== undefined && b.frames.length > 0) this.#flush(b);
  }

  /** Sends everything held, topic by topic in the order their windows opened. */
  flush(): void {
    if (this.#due.length === 0) return;
    const due = this.#due;
    this.#due = [];
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    for (const b of due) {
      b.queued = false;
      this.#flush(b);
    }
  }

  /** Drops what is held and stops the timer (the hub is stopping; its sockets resume elsewhere). */
  close(): void {
    this.#closed = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    for (const b of this.#due) b.frames.length = 0;
    this.#due = [];
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

  /** Flushes the topics whose window has closed, then waits for the next one. */
  #onTimer(): void {
    this.#cancelTimer = undefined;
    if (this.#closed) return;
    const now = this.#clock.now();
    let i = 0;
    for (; i < this.#due.length && this.#due[i]!.dueAt <= now; i++) {
      const b = this.#due[i]!;
      b.queued = false;
      this.#flush(b);
    }
    // Copying the rest is cheap: the queue is at most one entry per topic.
    if (i > 0) this.#due = this.#due.slice(i);
    if (this.#due.length > 0) this.#arm();
  }

  #flush(b: TopicBuffer): void {
    const frames = b.frames;
    const n = frames.length;
    if (n === 0) return;
    const app = this.#app;
    // Single-frame sockets get the frames one by one: uWS still writes a socket's messages of one loop turn at once.
    if (app.numSubscribers(b.topic) > 0) for (let i = 0; i < n; i++) app.publish(b.topic, frames[i]!, b.isBinary);
    if (app.numSubscribers(b.batchTopic) > 0) {
      // Built once per flush and shared by every batch socket of the topic; a lone frame goes as it is.
      const message = n === 1 ? frames[0]! : b.isBinary ? encodeBatch('msgpack', frames as Uint8Array[]) : encodeBatch('json', frames as string[]);
      app.publish(b.batchTopic, message, b.isBinary);
    }
    this.flushes++;
    this.frames += n;
    frames.length = 0;
    b.bytes = 0;
  }
}
