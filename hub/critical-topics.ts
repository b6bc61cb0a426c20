/**
 * The critical topics that have acking members, by name. A topic appears when its first acking socket joins
 * and goes when its last one leaves; fan-out tells it each critical event published to it. Sockets that do
 * not ack join the uWS topic only, and get critical events fire-and-forget.
 */
import type { StreamKey } from '../protocol/subjects.ts';
import { type CriticalMember, CriticalTopic } from './critical-topic.ts';
import type { RedeliveryQueue } from './redelivery-queue.ts';

export class CriticalTopics {
  readonly #topics = new Map<string, CriticalTopic>();
  readonly #queue: RedeliveryQueue;
  readonly #ackTimeoutMs: number;

  constructor(queue: RedeliveryQueue, ackTimeoutMs: number) {
    this.#queue = queue;
    this.#ackTimeoutMs = ackTimeoutMs;
  }

  /** `member` joins `name` when the log's live position is `position`: later offsets on it are sent to it. */
  join(name: string, stream: StreamKey, member: CriticalMember, position: number): void {
    let topic = this.#topics.get(name);
    if (topic === undefined) this.#topics.set(name, (topic = new CriticalTopic(name, stream, this.#queue, this.#ackTimeoutMs)));
    topic.members.set(member, position);
  }

  /** Returns the topic and where `member` had joined it, for what was sent to it there. */
  leave(name: string, member: CriticalMember): { readonly last: number; readonly joinedAt: number } | undefined {
    const topic = this.#topics.get(name);
    const joinedAt = topic?.members.get(member);
    if (topic === undefined || joinedAt === undefined) return undefined;
    topic.members.delete(member);
    if (topic.members.size === 0) this.#topics.delete(name);
    return { last: topic.last, joinedAt };
  }

  /** The newest offset of `stream` that the topics `names` published to `member` since it joined them (0: none). */
  sentTo(member: CriticalMember, names: readonly string[], stream: StreamKey): number {
    let sent = 0;
    for (const name of names) {
      const topic = this.#topics.get(name);
      const joinedAt = topic?.members.get(member);
      if (topic !== undefined && joinedAt !== undefined && topic.stream === stream && topic.last > joinedAt && topic.last > sent) sent = topic.last;
    }
    return sent;
  }

  /** A critical event was published on `name` at `now` (a no-op for topics no acking socket is on). */
  published(name: string, offset: number, now: number): void {
    this.#topics.get(name)?.published(offset, now);
  }
}
