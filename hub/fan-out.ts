/**
 * The hot path: one ordered JetStream consumer per log, starting right after the
 * log's last offset, turns each message into a LiveEvent (frames built once per
 * wire format from the payload bytes as stored) and publishes it to uWS topics,
 * which copy the same bytes to every fast subscriber in C++: every class alike.
 * For critical events the topic also notes the offset and the time, shared by
 * its acking subscribers, so delivery is tracked by positions, not per socket.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { TemplatedApp } from 'uWebSockets.js';
import { specForSubject } from '../protocol/catalogue.ts';
import { DERIVED_HEADER, isDerived, markedByMsgId } from '../protocol/log-record.ts';
import { messageHeader } from '../protocol/message-header.ts';
import { parseSubject, STREAM_KEYS, type StreamKey, streamName, topics } from '../protocol/subjects.ts';
import { LiveEvent } from './live-event.ts';
import { LiveFeed } from './live-feed.ts';
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
  readonly #app: TemplatedApp;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #ns: string;
  readonly epochs: Epochs;
  readonly #ctx: SessionContext;
  readonly #log: Logger;
  readonly #feeds: LiveFeed[] = [];
  readonly #recent = {} as Record<StreamKey, RecentEvents>;
  readonly #faces: readonly LiveFace[];

  /** `faces`: other protocols served from the same consumers (the Socket.IO face). */
  constructor(app: TemplatedApp, js: JetStreamClient, jsm: JetStreamManager, ns: string, epochs: Epochs, ctx: SessionContext, log: Logger, faces: readonly LiveFace[] = []) {
    this.#faces = faces;
    this.#app = app;
    this.#js = js;
    this.#jsm = jsm;
    this.#ns = ns;
    this.epochs = epochs;
    this.#ctx = ctx;
    this.#log = log;
  }

  /** The recent window of a log: its `last` is the offset live delivery has reached. */
  recent(stream: StreamKey): RecentEvents {
    return this.#recent[stream];
  }

  async start(): Promise<void> {
    for (const key of STREAM_KEYS) {
      const name = streamName(this.#ns, key);
      const last = (await this.#jsm.streams.info(name)).state.last_seq;
      const recent = new RecentEvents(this.#ctx.config.recentEvents, last, this.#ctx.config.recentBytes);
      this.#recent[key] = recent;
      // Start exactly after the offset the window claims, so a resume's hand-over has no hole; a
      // replaced consumer starts there again, so a lost NATS node costs neither a gap nor a duplicate.
      const feed = new LiveFeed(this.#js, name, () => recent.last + 1, (m) => this.#receive(key, m), this.#log);
      await feed.start();
      this.#feeds.push(feed);
    }
  }

  /** Live consumers replaced since start (a NATS node holding one died, or it went quiet). */
  get consumersReplaced(): number {
    return this.#feeds.reduce((n, f) => n + f.replaced, 0);
  }

  /** Events appended to each log that live delivery has not reached yet. */
  async lag(): Promise<Record<StreamKey, number>> {
    const out = {} as Record<StreamKey, number>;
    for (const key of STREAM_KEYS) out[key] = Math.max(0, (await this.#jsm.streams.info(streamName(this.#ns, key))).state.last_seq - this.#recent[key].last);
    return out;
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.#feeds.map((feed) => feed.stop()));
  }

  /** Builds the hub's view of a stored message, or undefined for subjects it does not deliver. */
  toEvent(stream: StreamKey, m: JsMsg): LiveEvent | undefined {
    const parsed = parseSubject(this.#ns, m.subject);
    const spec = parsed === undefined ? undefined : specForSubject(parsed.stream, parsed.tail);
    if (parsed === undefined || spec === undefined) return undefined;
    // Once per event (never per recipient), and only the headers that decide the derived mark, read from
    // the message's header bytes: decoding every header into a Map cost about a tenth of an export's CPU.
    const header = messageHeader(m, DERIVED_HEADER);
    const derived = header !== '' ? header === '1' : markedByMsgId(spec.name) && isDerived(spec.name, header, messageHeader(m, 'Nats-Msg-Id'));
    return new LiveEvent(m.seq, stream, parsed.owner, spec, m.data, Math.floor(m.info.timestampNanos / 1e6), this.epochs[stream], derived);
  }

  #receive(stream: StreamKey, m: JsMsg): void {
    try {
      this.#publish(stream, m);
    } catch (e) {
      // One event the hub cannot deliver must not stop the stream for everyone: skip it, say so.
      this.#recent[stream].skip(m.seq);
      this.#log.error({ stream, offset: m.seq, subject: m.subject, err: (e as Error).stack }, 'event skipped: delivery failed');
    }
  }

  #publish(stream: StreamKey, m: JsMsg): void {
    const recent = this.#recent[stream];
    if (m.seq <= recent.last) return; // redelivered after a consumer reset
    const event = this.toEvent(stream, m);
    if (event === undefined) {
      recent.skip(m.seq);
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
    const topic = permissions.topic(event.spec.priority === 'normal' ? topics.siteData(event.owner) : topics.siteLatest(event.owner), name);
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
