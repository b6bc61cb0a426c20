/**
 * The hot path: one ordered JetStream consumer per log, starting at its end, hands
 * each event to uWS topics. Each event's frame is built once per wire format from
 * the payload bytes as stored; uWS copies those bytes to every subscriber in C++.
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import type { TemplatedApp } from 'uWebSockets.js';
import { specForSubject } from '../protocol/catalogue.ts';
import { encodeEventFrame, type EventMeta } from '../protocol/codec.ts';
import { parseSubject, STREAM_KEYS, type StreamKey, streamName, topics } from '../protocol/subjects.ts';
import type { Logger } from './logger.ts';
import { topicFor } from './session.ts';
import type { Epochs } from './streams.ts';

export class FanOut {
  readonly #app: TemplatedApp;
  readonly #js: JetStreamClient;
  readonly #ns: string;
  readonly #epochs: Epochs;
  readonly #log: Logger;
  readonly #stops: Array<() => Promise<unknown>> = [];
  /** Last offset published per log: where a resume hands over to live. */
  readonly lastOffset: Record<StreamKey, number> = { site: 0, user: 0, global: 0 };
  #stopped = false;

  constructor(app: TemplatedApp, js: JetStreamClient, ns: string, epochs: Epochs, log: Logger) {
    this.#app = app;
    this.#js = js;
    this.#ns = ns;
    this.#epochs = epochs;
    this.#log = log;
  }

  async start(): Promise<void> {
    for (const key of STREAM_KEYS) {
      const consumer = await this.#js.consumers.get(streamName(this.#ns, key), { deliver_policy: DeliverPolicy.New });
      const messages = await consumer.consume({ max_messages: 1024 });
      this.#stops.push(() => messages.close());
      void this.#pump(key, messages);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.allSettled(this.#stops.map((stop) => stop()));
  }

  async #pump(key: StreamKey, messages: AsyncIterable<JsMsg>): Promise<void> {
    try {
      for await (const m of messages) this.#publish(key, m);
    } catch (e) {
      if (!this.#stopped) this.#log.error({ stream: key, err: (e as Error).message }, 'fan-out consumer failed');
    }
  }

  #publish(key: StreamKey, m: JsMsg): void {
    this.lastOffset[key] = m.seq;
    const parsed = parseSubject(this.#ns, m.subject);
    const spec = parsed === undefined ? undefined : specForSubject(parsed.stream, parsed.tail);
    if (parsed === undefined || spec === undefined) return;
    const meta: EventMeta = { offset: m.seq, ts: Math.floor(m.info.timestampNanos / 1e6), stream: key, epoch: this.#epochs[key] };
    let msgpack: Uint8Array | undefined;
    let json: string | undefined;
    const send = (topic: string) => {
      // Encode only for topics someone listens to, and at most once per event.
      if (this.#app.numSubscribers(topic) > 0) {
        msgpack ??= encodeEventFrame('msgpack', spec.name, m.data, meta) as Uint8Array;
        this.#app.publish(topic, msgpack, true);
      }
      const jsonTopic = topicFor('json', topic);
      // JSON is for debugging: convert only when a JSON socket listens.
      if (this.#app.numSubscribers(jsonTopic) > 0) {
        json ??= encodeEventFrame('json', spec.name, m.data, meta) as string;
        this.#app.publish(jsonTopic, json, false);
      }
    };
    if (key === 'site') {
      if (spec.tail.startsWith('alarm.')) {
        send(topics.siteAlarms(parsed.owner));
        send(topics.allAlarms);
      } else send(topics.siteData(parsed.owner));
    } else if (key === 'user') send(topics.user(parsed.owner));
    else send(topics.global(parsed.tail));
  }
}
