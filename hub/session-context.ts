/** What every session shares: configuration, metrics, the critical topics and the per-socket registry. */
import type { StreamKey } from '../protocol/subjects.ts';
import type { BufferWatch } from './buffer-watch.ts';
import type { Clock } from './clock.ts';
import type { HubConfig } from './config.ts';
import type { CriticalTopics } from './critical-topics.ts';
import type { EventPermissions } from './event-permissions.ts';
import type { HubMetrics } from './metrics.ts';
import type { RedeliveryQueue } from './redelivery-queue.ts';
import type { Replayer } from './replayer.ts';
import type { SessionDeadlines } from './session-deadlines.ts';
import type { SubscriberRegistry } from './subscriber-registry.ts';
import type { TopicWriter } from './topic-writer.ts';

export interface SessionContext {
  readonly config: HubConfig;
  readonly metrics: HubMetrics;
  /** Critical topics with acking members: what was published on them and when, shared by those members. */
  readonly critical: CriticalTopics;
  /** Traffic of slow sessions (off the uWS topics): uWS topic → sessions. */
  readonly slowRegistry: SubscriberRegistry;
  /** Which roles receive which events (HUB_EVENT_ROLES). */
  readonly permissions: EventPermissions;
  /** When critical events fall due unacked: per topic, and per socket for what a socket was sent by itself. */
  readonly redelivery: RedeliveryQueue;
  /** The time for token expiry, idle sockets and redelivery: the system clock, or one a test moves. */
  readonly clock: Clock;
  /** Token expiry and idle timeout, per session, on the clock. */
  readonly deadlines: SessionDeadlines;
  /** Which send buffers to look at, and when (topic traffic gives no per-socket signal). */
  readonly buffers: BufferWatch;
  /** The one paced catch-up path (resume, redelivery), once the hub is connected to NATS. */
  catchUp(): Replayer | undefined;
  /** The offset live delivery of a log has reached (0 before the hub is connected). */
  livePosition(stream: StreamKey): number;
  /** A redelivery failed for a reason other than the log or the socket going away (logged). */
  onRedeliveryError(error: Error): void;
  /** Normal and latest-value frames to uWS topics, coalesced per topic (HUB_WRITE_DELAY_MS). */
  readonly writer: TopicWriter;
}
