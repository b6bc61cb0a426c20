/**
 * Reads a stream from its start for a rebuild. A reader thread (stream-replay-thread.ts)
 * reads NATS and hands the events over in packed chunks, so this thread only
 * folds: reading the next events, parsing NATS messages included, goes on beside
 * the fold and beside Postgres. Events come out up to a moving target (the live
 * checkpoint); those received beyond it wait in memory, as the chunks they came in. At most `2 × max` events
 * are in flight or waiting: the reader asks the server for more only as the
 * caller acks what it took.
 */
import { randomUUID } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { type EventChunk, EventChunkReader, seqAt } from './event-chunk.ts';
import { describeSubject, type LogEvent } from './log-event.ts';
import { acquireReplayThread, releaseReplayThread } from './replay-threads.ts';
import type { FromReplayThread, ToReplayThread } from './stream-replay-thread.ts';

/** How long to wait for an event the target says exists, once the stream looked drained. */
const DRAINED_WAIT_MS = 2000;
/** Events per chunk handed over, and per pull request (at most). */
const CHUNK = 4096;
const PULL = 10_000;
/** How long a closing reader may take to delete its consumer before the thread is ended. */
const CLOSE_WAIT_MS = 5000;

/** The replay cannot go on: NATS refused it, the connection broke, or the reader thread died. */
export class ReplayError extends Error {
  override readonly name = 'ReplayError';
}

export interface ReplaySource {
  /** NATS server URL(s) the reader thread connects to (a connection of its own); a string may list several, comma-separated. */
  readonly servers: string | readonly string[];
  readonly stream: string;
  /** The consumer's subject filter. */
  readonly filter: string;
  /** How the reader thread reads deliveries: its own plain socket when it can (default), or nats.js (the fallback; for tests). */
  readonly via?: 'socket' | 'nats.js';
}

export class StreamReplay {
  readonly #worker: Worker;
  readonly #max: number;
  readonly #reader: EventChunkReader;
  readonly #onMessage = (m: FromReplayThread) => this.#message(m);
  readonly #onError = (e: Error) => this.#fail(new ReplayError(`the replay's reader thread failed: ${e.message}`, { cause: e }));
  readonly #onExit = () => this.#fail(new ReplayError("the replay's reader thread stopped"));
  /** Chunks received and not wholly taken (from `#head`), the next event of the first, and how many events wait. */
  #chunks: EventChunk[] = [];
  #head = 0;
  #offset = 0;
  #waiting = 0;
  #taken = 0;
  #lastSeq = 0;
  #drained = false;
  #ready = false;
  #failure: ReplayError | undefined;
  #wake: (() => void) | undefined;
  #closed: (() => void) | undefined;

  private constructor(ns: string, worker: Worker, max: number) {
    this.#worker = worker;
    this.#max = max;
    this.#reader = new EventChunkReader((subject) => describeSubject(ns, subject));
    worker.on('message', this.#onMessage);
    worker.on('error', this.#onError);
    worker.on('exit', this.#onExit);
  }

  /**
   * Starts reading `source` from its start (an ephemeral consumer); resolves once the reader reads.
   * @example
   * const replay = await StreamReplay.open({ servers: 'nats://127.0.0.1:4222', stream: 'plant_site', filter: 'plant.site.>' }, 'plant', 20_000);
   * for (let batch = await replay.take(last); batch.length > 0; batch = await replay.take(last)) { fold(batch); replay.ack(); }
   * await replay.close();
   */
  static async open(source: ReplaySource, ns: string, max: number): Promise<StreamReplay> {
    const replay = new StreamReplay(ns, acquireReplayThread(), max);
    replay.#send({
      type: 'open',
      options: {
        // A comma-separated NATS_URL (a cluster's seed servers) is a list; nats.js takes a string as one URL.
        servers: typeof source.servers === 'string' ? source.servers.split(',').map((u) => u.trim()).filter((u) => u !== '') : [...source.servers],
        stream: source.stream,
        filter: source.filter,
        socket: source.via !== 'nats.js',
        // Ephemeral: the server removes it if this process dies mid-replay.
        consumer: `${ns}_replay_${randomUUID().slice(0, 8)}`,
        credit: 2 * max,
        pull: Math.min(PULL, max),
        chunk: Math.min(CHUNK, max),
      },
    });
    while (!replay.#ready && replay.#failure === undefined) await replay.#next(Number.POSITIVE_INFINITY);
    if (replay.#failure !== undefined) {
      const failure = replay.#failure;
      await replay.close();
      throw new ReplayError(`cannot replay ${source.stream}: ${failure.message}`, { cause: failure });
    }
    return replay;
  }

  /**
   * Up to `max` events at or below `target`, in order; empty when there are none to come.
   * `wait: 'any'` takes what has arrived, as soon as there is one, up to a chunk's worth
   * (`CHUNK`): a fold that keeps up takes events young, and they die young.
   */
  async take(target: number, wait: 'full' | 'any' = 'full'): Promise<LogEvent[]> {
    const enough = wait === 'full' ? this.#max : 1;
    const most = wait === 'full' ? this.#max : Math.min(this.#max, CHUNK);
    // Held events are in log order: all of them count while the last one received is at or below the target.
    while (this.#lastSeq < target && this.#waiting < enough) {
      if (this.#failure !== undefined) throw this.#failure;
      const received = this.#lastSeq;
      await this.#next(this.#drained ? DRAINED_WAIT_MS : Number.POSITIVE_INFINITY);
      if (this.#failure !== undefined) throw this.#failure;
      if (this.#lastSeq === received) break;
    }
    const batch: LogEvent[] = [];
    while (batch.length < most && this.#head < this.#chunks.length) {
      const chunk = this.#chunks[this.#head]!;
      let end = this.#offset;
      const limit = Math.min(chunk.count, end + most - batch.length);
      while (end < limit && seqAt(chunk, end) <= target) end++;
      this.#reader.readRange(chunk, this.#offset, end, batch);
      this.#waiting -= end - this.#offset;
      this.#offset = end;
      if (end < chunk.count) break;
      this.#chunks[this.#head++] = undefined!;
      this.#offset = 0;
    }
    if (this.#head === this.#chunks.length || this.#head > 1024) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
    this.#taken += batch.length;
    return batch;
  }

  /** Releases everything taken so far: the reader may ask the server for as many more. */
  ack(): void {
    if (this.#taken === 0 || this.#failure !== undefined) return;
    this.#send({ type: 'release', events: this.#taken });
    this.#taken = 0;
  }

  /** Deletes the consumer; the thread goes back to the pool (or is ended if it failed or does not answer). */
  async close(): Promise<void> {
    const failed = this.#failure !== undefined;
    const clean = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS);
      this.#closed = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#fail(new ReplayError('the replay was closed'));
      this.#send({ type: 'close' });
    });
    this.#worker.off('message', this.#onMessage);
    this.#worker.off('error', this.#onError);
    this.#worker.off('exit', this.#onExit);
    releaseReplayThread(this.#worker, clean && !failed);
  }

  #message(m: FromReplayThread): void {
    switch (m.type) {
      case 'ready':
        this.#ready = true;
        break;
      case 'chunk':
        this.#reader.accept(m.chunk);
        if (m.chunk.count > 0) {
          this.#chunks.push(m.chunk);
          this.#waiting += m.chunk.count;
          this.#lastSeq = seqAt(m.chunk, m.chunk.count - 1);
        }
        this.#drained = m.chunk.pending === 0;
        break;
      case 'failed':
        this.#fail(new ReplayError(`replay of the stream failed: ${m.message}`));
        break;
      case 'closed':
        this.#closed?.();
        return;
    }
    this.#wake?.();
  }

  #next(waitMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = Number.isFinite(waitMs) ? setTimeout(() => this.#wake?.(), waitMs) : undefined;
      this.#wake = () => {
        this.#wake = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #fail(e: ReplayError): void {
    this.#failure ??= e;
    this.#wake?.();
  }

  #send(message: ToReplayThread): void {
    this.#worker.postMessage(message);
  }
}
