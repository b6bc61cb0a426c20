/**
 * The hub's counters (prom-client, one registry per hub so several hubs can share
 * a process in tests). Hot paths increment plain fields; collection reads them.
 */
import { Counter, Gauge, Registry } from 'prom-client';

export class HubMetrics {
  readonly registry = new Registry();
  /** Latest-value events not sent to a slow socket (conflated: its newest value is resent on drain). */
  readonly shed = new Counter({ name: 'hub_events_shed_total', help: 'Latest-value events shed for slow sockets', registers: [this.registry] });
  /** Sockets closed because they could not take critical traffic. */
  readonly forcedCloses = new Counter({ name: 'hub_forced_closes_total', help: 'Sockets closed as slow consumers', labelNames: ['reason'], registers: [this.registry] });
  readonly redelivered = new Counter({ name: 'hub_critical_redelivered_total', help: 'Critical events resent for lack of an ack', registers: [this.registry] });
  readonly resumes = new Counter({ name: 'hub_resumes_total', help: 'Subscription resumes', labelNames: ['recovered'], registers: [this.registry] });
  readonly replayed = new Counter({ name: 'hub_replayed_events_total', help: 'Events sent by resumes', registers: [this.registry] });
  readonly slowSockets = new Gauge({ name: 'hub_slow_sockets', help: 'Sockets currently over their byte budget', registers: [this.registry] });
}
