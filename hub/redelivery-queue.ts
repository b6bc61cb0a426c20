/**
 * When critical events fall due unacked: at most one entry per critical topic with acking members (for what
 * it published) and one per socket and log (for what the socket was sent by itself). Replaces a 100 ms sweep
 * over every session: the cost follows the topics with critical traffic and the sockets catching up, not the
 * connection count.
 */
import type { StreamKey } from '../protocol/subjects.ts';
import { type Clock, systemClock } from './clock.ts';
import { DueQueue } from './due-queue.ts';

/** A topic's or a socket's side: handles what fell due on `stream` and says when the next falls due. */
export interface Redeliverable {
  redeliverDue(stream: StreamKey, now: number): number | undefined;
}

export class RedeliveryQueue extends DueQueue<Redeliverable, StreamKey> {
  constructor(onError: (error: Error) => void, clock: Clock = systemClock) {
    super((target, stream, now) => target.redeliverDue(stream, now), onError, clock);
  }
}
