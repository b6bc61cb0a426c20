/**
 * The hot path: one live tail per log (EventLog.tail: on JetStream an ordered
 * consumer), starting right after the log's last offset, hands over each event as a
 * LiveEvent (frames built once per wire format from the payload bytes as stored),
 * published here to uWS topics through the TopicWriter (normal and latest-value
 * coalesced, critical at once), which copy the same bytes to every fast subscriber
 * in C++: every class alike.
 * For critical events the topic also notes the offset and the time, shared by
 * its acking subscribers, so delivery is tracked by positions, not per socket.
 */
import { STREAM_KEYS, type StreamKey, topics } from '../protocol/subjects.ts';
import type { EventLog, LogTail } from './event-log.ts';
import type { LiveEvent } from './live-event.ts';
import type { Logger } from './logger.ts';
import { RecentEvents } from './recent-events.ts';
import { criticalTopicOf } from './critical-topic.ts';
import { topicFor } from './session.ts';
import type { SessionContext } from './session-context.ts';
import type { Epochs } from './streams.ts';

/** Another protocol fed by the same consumers: gets every live event once, in log order. */
export interface LiveFace {
  deliver(event: LiveEvent): void;
}

export class FanOut {
  readonly #events: EventLog;
  readonly epochs: Epochs;
  readonly #ctx: SessionContext;
  readonly #log: Logger;
  readonly #tails: LogTail[] = [];
  readonly #recent = {} as Record<StreamKey, RecentEvents>;
  readonly #faces: readonly LiveFace[];

  /** `faces`: other protocols served from the same consumers (the Socket.IO face). */
  constructor(events: EventLog, ctx: SessionContext, log: Logger, faces: readonly LiveFace[] = []) {
    this.#faces = faces;
    this.#events = events;
    this.epochs = Object.freeze({ site: events.epoch('site'), user: events.epoch('user'), global: events.epoch('global') });
    this.#ctx = ctx;
    this.#log = log;
  }

  /** The recent window of a log: its `last` is the offset live delivery has reached. */
  recent(stream: StreamKey): RecentEvents {
    return this.#recent[stream];
  }

  async start(): Promise<void> {
    for (const key of STREAM_KEYS) {
      const last = await this.#events.lastOffset(key);
      const recent = new RecentEvents(this.#ctx.config.recentEvents, last, this.#ctx.config.recentBytes);
      this.#recent[key] = recent;
      // Start exactly after the offset the window claims, so a resume's hand-over has no hole; a
      // replaced consumer starts there again, so a lost NATS node costs neither a gap nor a duplicate.
      const tail = this.#events.tail(key, () => recent.last + 1, (offset, event) => this.#receive(key, offset, event));
      await tail.start();
      this.#tails.push(tail);
    }
  }

  /** Live consumers replaced since start (a NATS node holding one died, or it went quiet). */
  get consumersReplaced(): number {
    return this.#tails.reduce((n, t) => n + t.reopened, 0);
  }

  /** Events appended to each log that live delivery has not reached yet. */
  async lag(): Promise<Record<StreamKey, number>> {
    const out = {} as Record<StreamKey, number>;
    for (const key of STREAM_KEYS) out[key] = Math.max(0, (await this.#events.lastOffset(key)) - this.#recent[key].last);
    return out;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#tails.map((tail) => tail.stop()));
  }

  #receive(stream: StreamKey, offset: number, event: LiveEvent | undefined): void {
    try {
      this.#publish(stream, offset, event);
    } catch (e) {
      // One event the hub cannot deliver must not stop the stream for everyone: skip it, say so.
      this.#recent[stream].skip(offset);
      this.#log.error({ stream, offset, event: event?.spec.name, err: (e as Error).stack }, 'event skipped: delivery failed');
    }
  }

  #publish(stream: StreamKey, offset: number, event: LiveEvent | undefined): void {
    const recent = this.#recent[stream];
    if (offset <= recent.last) return; // redelivered after a consumer reset
    if (event === undefined) {
      recent.skip(offset);
      return;
    }
    recent.push(event);
    if (this.#ctx.config.eventMetrics) this.#ctx.metrics.countEvent(event.spec.name, event.spec.priority, event.meta.ts);
    this.#deliverNative(event);
    for (const face of this.#faces) {
      // One protocol failing an event (say, a payload it cannot decode) must not cost the other one the event.
      try {
        face.deliver(event);
      } catch (e) {
        this.#log.error({ stream, offset: event.seq, event: event.spec.name, err: (e as Error).message }, 'event not delivered to Socket.IO clients');
      }
    }
  }

  #deliverNative(event: LiveEvent): void {
    const { permissions } = this.#ctx;
    const name = event.spec.name;
    if (event.spec.priority === 'critical') {
      // Restricted events go to their own topics, which only sessions whose roles allow them joined. A session
      // is on one alarm topic at most (alarm/* or its sites'), so an alarm reaches it once.
      const now = this.#ctx.clock.now();
      this.#publishCritical(permissions.topic(criticalTopicOf(event), name), event, now);
      if (event.stream === 'site') this.#publishCritical(permissions.topic(topics.allAlarms, name), event, now);
      return;
    }
    const topic = permissions.topic(topics.siteData(event.owner), name);
    this.#publishEvent(topic, event, false);
    if (this.#ctx.slowRegistry.has(topic)) this.#ctx.slowRegistry.forEach([topic], (s) => s.deliverSlow(event));
  }

  #publishCritical(topic: string, event: LiveEvent, now: number): void {
    this.#publishEvent(topic, event, true);
    // The offset and time go to the topic's acking members' shared record (none: a no-op), never per socket.
    this.#ctx.critical.published(topic, event.seq, now);
    // Slow sockets are off the topic: served one by one, never shed; one that cannot take it is closed (4509).
    if (this.#ctx.slowRegistry.has(topic)) this.#ctx.slowRegistry.forEach([topic], (s) => s.deliverSlow(event));
  }

  /**
   * Publishes an event's frame, encoded once per wire format, to the msgpack and JSON variants of `topic`:
   * normal and latest-value through the write coalescing, critical at once (after what is held, so an alarm
   * never overtakes its site's earlier events).
   */
  #publishEvent(topic: string, event: LiveEvent, critical: boolean): void {
    const writer = this.#ctx.writer;
    // Encode only for topics someone listens to; the same bytes go to every subscriber.
    if (writer.listened(topic)) {
      const frame = event.frame('msgpack') as Uint8Array;
      if (critical) writer.publishNow(topic, frame, true);
      else writer.publish(topic, frame, true);
      this.#ctx.buffers.published(frame.byteLength);
    }
    const jsonTopic = topicFor('json', topic);
    if (!writer.listened(jsonTopic)) return;
    let frame: string;
    try {
      frame = event.frame('json') as string;
    } catch (e) {
      // A payload JSON cannot carry costs JSON sockets this event, never msgpack sockets or later events.
      this.#log.error({ offset: event.seq, event: event.spec.name, err: (e as Error).message }, 'event not delivered to JSON sockets');
      return;
    }
    if (critical) writer.publishNow(jsonTopic, frame, false);
    else writer.publish(jsonTopic, frame, false);
    this.#ctx.buffers.published(frame.length * 3); // UTF-8 bytes, at most
  }
}
