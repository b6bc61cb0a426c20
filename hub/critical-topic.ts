/**
 * A uWS topic carrying critical events, seen from the side of acks: what was published on it lately and
 * when, shared by every acking socket on it. uWS copies each frame to the members in C++; the hub keeps no
 * per-event object per recipient. When an offset's ack timeout has passed, each member is asked whether its
 * acked position covers it: one integer compare per member, nothing allocated.
 */
import { type StreamKey, topics } from '../protocol/subjects.ts';
import type { LiveEvent } from './live-event.ts';
import type { Redeliverable, RedeliveryQueue } from './redelivery-queue.ts';

/** A socket on a critical topic that acks: told which offset of a log fell due on it. */
export interface CriticalMember {
  /** Every critical offset of `stream` up to `upTo` that this socket was sent must be acked by now. */
  owe(stream: StreamKey, upTo: number): void;
}

export class CriticalTopic implements Redeliverable {
  readonly name: string;
  readonly stream: StreamKey;
  /** Highest offset published on the topic while it had acking members. */
  last = 0;
  /** Acking members → the log's live position when they joined: only later offsets reached them here. */
  readonly members = new Map<CriticalMember, number>();
  // Published offsets not yet due, oldest first, with their publish times: a queue of two number arrays.
  #offsets: number[] = [];
  #times: number[] = [];
  #head = 0;
  #scheduled = false;
  readonly #queue: RedeliveryQueue;
  readonly #ackTimeoutMs: number;

  constructor(name: string, stream: StreamKey, queue: RedeliveryQueue, ackTimeoutMs: number) {
    this.name = name;
    this.stream = stream;
    this.#queue = queue;
    this.#ackTimeoutMs = ackTimeoutMs;
  }

  /** An event at `offset` went out on the topic at `now`; it falls due an ack timeout later. */
  published(offset: number, now: number): void {
    this.last = offset;
    this.#offsets.push(offset);
    this.#times.push(now);
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#queue.schedule(this, this.stream, now + this.#ackTimeoutMs);
  }

  /** Called by the queue: members that have not acked the newest offset now due owe it; returns the next due time. */
  redeliverDue(_stream: StreamKey, now: number): number | undefined {
    const offsets = this.#offsets;
    const times = this.#times;
    let due = 0;
    while (this.#head < offsets.length && times[this.#head]! + this.#ackTimeoutMs <= now) due = offsets[this.#head++]!;
    if (this.#head === offsets.length) {
      offsets.length = 0;
      times.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024) {
      offsets.splice(0, this.#head);
      times.splice(0, this.#head);
      this.#head = 0;
    }
    // Acks are cumulative: the newest due offset stands for every older one.
    if (due > 0) for (const [member, joinedAt] of this.members) if (joinedAt < due) member.owe(this.stream, due);
    if (this.#head < offsets.length) return times[this.#head]! + this.#ackTimeoutMs;
    this.#scheduled = false;
    return undefined;
  }
}

/** The per-site or per-user topic a critical event goes out on (alarms also on `alarm/*`). */
export function criticalTopicOf(event: LiveEvent): string {
  if (event.stream === 'site') return topics.siteAlarms(event.owner);
  if (event.stream === 'user') return topics.user(event.owner);
  return event.spec.tail === 'system' ? topics.globalSystem : topics.globalNotifications;
}

/** The log a critical topic's events come from. */
export function criticalStream(topic: string): StreamKey {
  if (topic.startsWith('user/')) return 'user';
  return topic.startsWith('global/') ? 'global' : 'site';
}
