/**
 * Runs one projection live: a durable JetStream pull consumer feeds batches to
 * the applier; each batch commits with its checkpoint, then is acked (AckAll on
 * its last message). Exactly-once effects:
 * - crash before commit: nothing was written; the batch comes again.
 * - crash after commit, before ack: the batch comes again and is skipped
 *   (every event is at or below the checkpoint).
 * - on every (re)start the consumer is recreated at checkpoint + 1, so a
 *   redelivery can never arrive after newer events and be mistaken for old.
 * NATS or Postgres down: the batch in hand is dropped unacked, and the worker
 * retries with backoff from the checkpoint, logging each attempt.
 */
import { AckPolicy, type Consumer, DeliverPolicy, jetstream, JetStreamApiError, type JetStreamManager, jetstreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { streamName } from '../protocol/subjects.ts';
import { backoffDelay, sleep } from './backoff.ts';
import { type AppliedBatch, BatchApplier, type BatchCursor } from './batch-applier.ts';
import { calendarDay } from './calendar-day.ts';
import { CheckpointStore, FencedOutError } from './checkpoint-store.ts';
import type { ProjectionDatabase } from './database.ts';
import { ConsumerBatches } from './consumer-batches.ts';
import { describeError } from './db-errors.ts';
import { logEventOf } from './log-event.ts';
import { Outbox } from './outbox.ts';
import type { Projection } from './projection.ts';
import type { WorkerLock } from './worker-lock.ts';

export interface ProjectionWorkerOptions {
  readonly projection: Projection;
  readonly database: ProjectionDatabase;
  readonly schema: string;
  readonly nc: NatsConnection;
  readonly namespace: string;
  readonly batchSize: number;
  readonly ackWaitMs: number;
  readonly maxBackoffMs: number;
  readonly timeZone: string;
  readonly log: Logger;
  /** After each commit and ack: what changed. */
  readonly onCommitted?: (batch: AppliedBatch) => void;
  readonly faults?: WorkerFaults;
}

/** Fault injection for tests, at each point of the batch cycle. */
export interface WorkerFaults {
  /** Inside the transaction, just before commit: throwing rolls the batch back. */
  beforeCommit?(lastSeq: number): void | Promise<void>;
  /** After commit, before the ack. */
  afterCommit?(lastSeq: number): void | Promise<void>;
}

/** Thrown by a fault to make the worker die on the spot: no ack, no retry, its lock dropped as a dead process's would be. */
export class SimulatedCrash extends Error {
  override readonly name = 'SimulatedCrash';
}

export type WorkerState = 'starting' | 'standby' | 'active' | 'retrying' | 'stopped' | 'crashed';

const STANDBY_POLL_MS = 2000;

export class ProjectionWorker {
  readonly #o: ProjectionWorkerOptions;
  readonly #applier: BatchApplier;
  readonly #checkpoints: CheckpointStore;
  readonly #outbox: Outbox;
  readonly #stop = new AbortController();
  readonly #waiters = new Set<{ seq: number; resolve: () => void }>();
  #run: Promise<void> | undefined;
  #state: WorkerState = 'starting';
  #position = 0;
  #failures = 0;

  constructor(options: ProjectionWorkerOptions) {
    this.#o = options;
    const { database, schema, projection } = options;
    this.#applier = new BatchApplier(database.db, schema, projection, calendarDay(options.timeZone));
    this.#checkpoints = new CheckpointStore(database.db, schema);
    this.#outbox = new Outbox(database.db, schema, projection.name, options.namespace, jetstream(options.nc), options.log);
  }

  get name(): string {
    return this.#o.projection.name;
  }

  get state(): WorkerState {
    return this.#state;
  }

  /** The last stream sequence this worker committed (or found committed when it started). */
  get position(): number {
    return this.#position;
  }

  start(): this {
    this.#run ??= this.#loop();
    return this;
  }

  /** Stops after the batch in hand (committed and acked, or dropped unacked), and releases the lock. */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#outbox.stop();
    await this.#run;
    if (this.#state !== 'crashed') this.#state = 'stopped';
    for (const w of this.#waiters) w.resolve();
  }

  /** Resolves once the worker has committed `seq` or beyond (rejects after `timeoutMs`). */
  waitFor(seq: number, timeoutMs = 10_000): Promise<void> {
    if (this.#position >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`projection ${this.name} did not reach ${seq} within ${timeoutMs} ms (at ${this.#position}, ${this.#state})`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  async #loop(): Promise<void> {
    const { projection, database, schema, namespace, log, maxBackoffMs } = this.#o;
    const lockKey = `${schema}:${namespace}:${projection.name}`;
    let announcedStandby = false;
    while (!this.#stop.signal.aborted) {
      let lock: WorkerLock | undefined;
      try {
        lock = await onPostgres(database.locks.tryAcquire(lockKey));
        if (lock === undefined) {
          if (!announcedStandby) log.info({ projection: projection.name }, 'another worker runs this projection; standing by');
          announcedStandby = true;
          this.#state = 'standby';
          await sleep(STANDBY_POLL_MS, this.#stop.signal);
          continue;
        }
        announcedStandby = false;
        await this.#activate(lock);
      } catch (e) {
        if (e instanceof SimulatedCrash) {
          this.#state = 'crashed';
          log.warn({ projection: projection.name }, 'simulated crash');
          return;
        }
        if (this.#stop.signal.aborted) break;
        const delay = backoffDelay(++this.#failures, maxBackoffMs);
        this.#state = 'retrying';
        if (e instanceof StallError && e.cause instanceof StreamMissingError) {
          log.info({ projection: projection.name, retryInMs: delay }, e.cause.message);
          await sleep(delay, this.#stop.signal);
          continue;
        }
        const side = e instanceof StallError ? e.side : 'the projection';
        log.warn({ projection: projection.name, attempt: this.#failures, retryInMs: delay, err: describeError(e instanceof StallError ? e.cause : e) }, `projection ${projection.name} stalled (${side} failed); retrying from its checkpoint`);
        await sleep(delay, this.#stop.signal);
      } finally {
        await lock?.release();
      }
    }
  }

  /** Holding the lock: claim the checkpoint, place the consumer after it, fold until stopped or failed. */
  async #activate(lock: WorkerLock): Promise<void> {
    const { projection, nc, namespace, log } = this.#o;
    const claim = await onPostgres(this.#checkpoints.claim(projection.name));
    const jsm = await onNats(jetstreamManager(nc));
    const stream = streamName(namespace, 'site');
    const info = await onNats(
      jsm.streams.info(stream).catch((e: unknown) => {
        throw e instanceof JetStreamApiError && e.status === 404 ? new StreamMissingError(`stream ${stream} does not exist yet: a hub creates it when it starts`) : e;
      }),
    );
    const reset = await onPostgres(this.#checkpoints.bindToStream(projection.name, claim.fence, info.created, info.state.last_seq, projection.tables));
    if (reset) log.warn({ projection: projection.name, stream, checkpoint: claim.lastSeq, streamLastSeq: info.state.last_seq }, 'the stream was recreated or shortened since the checkpoint; refolding it from its start');
    const from = reset ? 0 : claim.lastSeq;
    this.#advance(from);
    void this.#outbox.flush();
    const consumer = await onNats(this.#placeConsumer(jsm, stream, from));
    this.#state = 'active';
    log.info({ projection: projection.name, from: from + 1, behind: Math.max(0, info.state.last_seq - from) }, `projection ${projection.name} active`);
    await this.#consume(consumer, lock, this.#checkpoints.cursor(projection.name, claim.fence));
  }

  /** The durable consumer, recreated to start right after the checkpoint (see the file comment). */
  async #placeConsumer(jsm: JetStreamManager, stream: string, from: number): Promise<Consumer> {
    const { projection, namespace, batchSize, ackWaitMs, nc } = this.#o;
    const durable = `${namespace}_projection_${projection.name}`;
    try {
      await jsm.consumers.delete(stream, durable);
    } catch (e) {
      if (!(e instanceof JetStreamApiError) || e.status !== 404) throw e;
    }
    await jsm.consumers.add(stream, {
      durable_name: durable,
      // One ack per batch: acking its last message acknowledges all before it.
      ack_policy: AckPolicy.All,
      ack_wait: nanos(ackWaitMs),
      max_ack_pending: batchSize * 4,
      max_deliver: -1,
      filter_subject: projection.filter(namespace),
      ...(from > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 } : { deliver_policy: DeliverPolicy.All }),
    });
    return jetstream(nc).consumers.get(stream, durable);
  }

  async #consume(consumer: Consumer, lock: WorkerLock, cursor: BatchCursor): Promise<void> {
    const { batchSize } = this.#o;
    const batches = await onNats(ConsumerBatches.open(consumer, { max_messages: batchSize * 2, idle_heartbeat: 5000 }, batchSize));
    let consumerGone = false;
    const end = () => void batches.close();
    lock.lost.addEventListener('abort', end);
    this.#stop.signal.addEventListener('abort', end);
    // A stop (or lock loss) while activating came before these listeners, which would then never hear it.
    if (lock.lost.aborted || this.#stop.signal.aborted) end();
    void (async () => {
      for await (const s of batches.messages.status()) {
        if (s.type === 'consumer_deleted' || s.type === 'consumer_not_found') {
          consumerGone = true;
          end();
        }
      }
    })().catch(() => {});
    try {
      for (let batch = await batches.next(); batch !== undefined; batch = await batches.next()) await this.#commit(batch, cursor);
    } finally {
      lock.lost.removeEventListener('abort', end);
      this.#stop.signal.removeEventListener('abort', end);
      await batches.close();
    }
    if (lock.lost.aborted) throw new StallError('Postgres', new Error(`lost the worker lock: ${describeError(lock.lost.reason)}`));
    if (consumerGone) throw new StallError('NATS', new Error('the durable consumer vanished (NATS restarted without its store?)'));
  }

  async #commit(messages: readonly JsMsg[], cursor: BatchCursor): Promise<void> {
    const { namespace, schema, faults, log, projection } = this.#o;
    const events = messages.map((m) => logEventOf(namespace, m));
    const result = await onPostgres(this.#applier.apply(events, cursor, { viewSchema: schema, emit: true, beforeCommit: faults?.beforeCommit }));
    await faults?.afterCommit?.(result.lastSeq);
    messages.at(-1)!.ack();
    this.#failures = 0;
    this.#advance(result.lastSeq);
    for (const r of result.rejected) log.warn({ projection: projection.name, offset: r.seq, subject: r.subject, err: r.error }, 'event dead-lettered: the projection cannot apply it; skipped');
    if (result.appended > 0) void this.#outbox.flush();
    this.#o.onCommitted?.(result);
  }

  #advance(seq: number): void {
    this.#position = seq;
    for (const w of this.#waiters) if (seq >= w.seq) w.resolve();
  }
}

/** The site stream is not there (yet): no hub has started in this namespace. */
class StreamMissingError extends Error {
  override readonly name = 'StreamMissingError';
}

/** A failure of NATS or Postgres: the worker waits and retries from its checkpoint. */
class StallError extends Error {
  override readonly name = 'StallError';
  constructor(
    readonly side: 'Postgres' | 'NATS',
    cause: unknown,
  ) {
    super(`${side}: ${describeError(cause)}`, { cause });
  }
}

const stallOn = (side: 'Postgres' | 'NATS') =>
  <T>(p: Promise<T>): Promise<T> =>
    p.catch((e: unknown) => {
      // A crash or a takeover is not an outage: let them through as they are.
      throw e instanceof SimulatedCrash || e instanceof FencedOutError ? e : new StallError(side, e);
    });
const onPostgres = stallOn('Postgres');
const onNats = stallOn('NATS');
