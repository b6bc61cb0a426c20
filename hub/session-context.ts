/** What every session shares: configuration, metrics and the per-socket registries. */
import type { Clock } from './clock.ts';
import type { HubConfig } from './config.ts';
import type { EventPermissions } from './event-permissions.ts';
import type { HubMetrics } from './metrics.ts';
import type { RedeliveryQueue } from './redelivery-queue.ts';
import type { SubscriberRegistry } from './subscriber-registry.ts';
import type { TopicWriter } from './topic-writer.ts';

export interface SessionContext {
  readonly config: HubConfig;
  readonly metrics: HubMetrics;
  /** Critical traffic: registry keys → sessions. */
  readonly registry: SubscriberRegistry;
  /** Normal and latest-value traffic of slow sessions: uWS topic → sessions. */
  readonly slowRegistry: SubscriberRegistry;
  /** Which roles receive which events (HUB_EVENT_ROLES). */
  readonly permissions: EventPermissions;
  /** When unacked critical events are sent again. */
  readonly redelivery: RedeliveryQueue;
  /** The time for token expiry, idle sockets and redelivery: the system clock, or one a test moves. */
  readonly clock: Clock;
  /** Normal and latest-value frames to uWS topics, coalesced per topic (HUB_WRITE_DELAY_MS). */
  readonly writer: TopicWriter;
}
