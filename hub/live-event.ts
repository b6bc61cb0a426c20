/**
 * An event as the hub holds it after reading it from the log: where it sits, what
 * it is, and its frames, built lazily once per wire format and shared by every
 * recipient (live fan-out, replay, redelivery).
 */
import type { EventSpec } from '../protocol/catalogue.ts';
import { decodePayload, encodeEventFrame, type EventMeta, type WireFormat } from '../protocol/codec.ts';
import type { StreamKey } from '../protocol/subjects.ts';

export class LiveEvent {
  readonly seq: number;
  readonly stream: StreamKey;
  /** Site id for site events, user id for user events, '' for global ones. */
  readonly owner: string;
  readonly spec: EventSpec;
  readonly payload: Uint8Array;
  readonly meta: EventMeta;
  #msgpack: Uint8Array | undefined;
  #json: string | undefined;
  #data: unknown;

  /** `derived`: appended by the hub's projections (see `DERIVED_HEADER`); said in the meta only when true, so domain events' frames are unchanged. */
  constructor(seq: number, stream: StreamKey, owner: string, spec: EventSpec, payload: Uint8Array, ts: number, epoch: string, derived = false) {
    this.seq = seq;
    this.stream = stream;
    this.owner = owner;
    this.spec = spec;
    this.payload = payload;
    const meta: { -readonly [K in keyof EventMeta]: EventMeta[K] } = stream === 'site' ? { offset: seq, ts, stream, epoch, site: owner } : { offset: seq, ts, stream, epoch };
    if (derived) meta.derived = true;
    this.meta = meta;
  }

  get isAlarm(): boolean {
    return this.stream === 'site' && this.spec.tail.startsWith('alarm.');
  }

  /** The payload as the producer gave it (JSON values), decoded once for every Socket.IO recipient. */
  get data(): unknown {
    if (this.#data === undefined) this.#data = decodePayload(this.payload) ?? null;
    return this.#data;
  }

  frame(format: WireFormat): Uint8Array | string {
    if (format === 'msgpack') return (this.#msgpack ??= encodeEventFrame('msgpack', this.spec.name, this.payload, this.meta) as Uint8Array);
    return (this.#json ??= encodeEventFrame('json', this.spec.name, this.payload, this.meta) as string);
  }

  /** A latest-value event resent after a socket drained: marked so clients deliver it even if seen. */
  resyncFrame(format: WireFormat): Uint8Array | string {
    return encodeEventFrame(format, this.spec.name, this.payload, { ...this.meta, resync: true });
  }
}
