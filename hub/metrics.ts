/**
 * The hub's metrics (prom-client, one registry per hub so several hubs can share
 * a process in tests). The hot path counts per event, never per recipient, with
 * label children bound once per event name.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Priority } from '../protocol/catalogue.ts';
import { CloseCode } from '../protocol/errors.ts';

/** Metric labels of the close codes a connection can be refused or closed with. */
const CLOSE_LABELS: Readonly<Record<number, string>> = {
  [CloseCode.Unauthorized]: 'unauthorized',
  [CloseCode.ForbiddenOrigin]: 'origin',
  [CloseCode.TooManyConnections]: 'too_many_connections',
  [CloseCode.RateLimited]: 'rate_limited',
  [CloseCode.HubUnavailable]: 'not_ready',
  [CloseCode.IdleTimeout]: 'idle_timeout',
  [CloseCode.TokenExpired]: 'token_expired',
  [CloseCode.ProtocolViolation]: 'protocol_violation',
};

export class HubMetrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({ name: 'hub_connections', help: 'Open WebSocket sessions on this hub', registers: [this.registry] });
  readonly users = new Gauge({ name: 'hub_users', help: 'Distinct users connected to this hub', registers: [this.registry] });
  readonly refusals = new Counter({ name: 'hub_connection_refusals_total', help: 'Connections refused or closed by the hub, by reason', labelNames: ['reason'], registers: [this.registry] });
  readonly events = new Counter({ name: 'hub_events_total', help: 'Events the hub delivered from the log (once per event, whatever the number of recipients)', labelNames: ['event', 'class'], registers: [this.registry] });
  readonly latency = new Histogram({
    name: 'hub_event_latency_seconds',
    help: 'From append (JetStream time) to handed to the sockets',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /** Latest-value events not sent to a slow socket (conflated: its newest value is resent on drain). */
  readonly shed = new Counter({ name: 'hub_events_shed_total', help: 'Latest-value events shed for slow sockets', registers: [this.registry] });
  /** Sockets closed because they could not take critical traffic. */
  readonly forcedCloses = new Counter({ name: 'hub_forced_closes_total', help: 'Sockets closed as slow consumers', labelNames: ['reason'], registers: [this.registry] });
  readonly redelivered = new Counter({ name: 'hub_critical_redelivered_total', help: 'Critical events resent for lack of an ack', registers: [this.registry] });
  readonly resumes = new Counter({ name: 'hub_resumes_total', help: 'Subscription resumes', labelNames: ['recovered'], registers: [this.registry] });
  readonly replayed = new Counter({ name: 'hub_replayed_events_total', help: 'Events sent by resumes', registers: [this.registry] });
  readonly slowSockets = new Gauge({ name: 'hub_slow_sockets', help: 'Sockets currently over their byte budget', registers: [this.registry] });
  readonly natsConnected = new Gauge({ name: 'hub_nats_connected', help: '1 while the hub is connected to NATS', registers: [this.registry] });
  readonly consumerLag = new Gauge({ name: 'hub_consumer_lag_events', help: "Events in a log the hub's live consumer has not delivered yet", labelNames: ['stream'], registers: [this.registry] });
  readonly #eventChildren = new Map<string, Counter.Internal>();

  /** Counts a connection refused or closed with a close code, under its label (both protocols). */
  countRefusal(code: number): void {
    this.refusals.inc({ reason: CLOSE_LABELS[code] ?? String(code) });
  }

  /** Counts one delivered event (bound label child: no label lookup per event). */
  countEvent(name: string, priority: Priority, appendedAtMs: number): void {
    let child = this.#eventChildren.get(name);
    if (child === undefined) this.#eventChildren.set(name, (child = this.events.labels(name, priority)));
    child.inc();
    this.latency.observe(Math.max(0, Date.now() - appendedAtMs) / 1000);
  }
}
