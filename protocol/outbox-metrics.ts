/**
 * The outbox's counters as Prometheus metrics. They are plain fields read on
 * scrape (no prom-client call per send), so a registry costs nothing per event.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { DROP_REASONS, type OutboxStats } from './append-outbox.ts';

/**
 * @example
 * const registry = new Registry();
 * registerOutboxMetrics(registry, () => service.stats);
 * // hub_publisher_appended_total 1042, hub_publisher_dropped_total{reason="outbox_full"} 0, …
 */
export function registerOutboxMetrics(registry: Registry, stats: () => OutboxStats, prefix = 'hub_publisher_'): void {
  const registers = [registry];
  new Counter({
    name: `${prefix}appended_total`,
    help: 'Events JetStream stored from this process',
    registers,
    collect() {
      this.reset();
      this.inc(stats().appended);
    },
  });
  new Counter({
    name: `${prefix}retried_total`,
    help: 'Appends sent again after a failure or a NATS reconnect (idempotent: msg ids)',
    registers,
    collect() {
      this.reset();
      this.inc(stats().retried);
    },
  });
  new Counter({
    name: `${prefix}dropped_total`,
    help: 'Events not appended, by reason: invalid (cannot be stored), outbox_full, refused (by JetStream), shutdown (not appended before close)',
    labelNames: ['reason'],
    registers,
    collect() {
      const dropped = stats().dropped;
      this.reset();
      for (const reason of DROP_REASONS) this.labels(reason).inc(dropped[reason]);
    },
  });
  new Gauge({
    name: `${prefix}outbox_depth`,
    help: 'Events waiting in the outbox or in flight',
    registers,
    collect() {
      this.set(stats().depth);
    },
  });
  new Gauge({
    name: `${prefix}in_flight`,
    help: 'Appends sent and not yet answered',
    registers,
    collect() {
      this.set(stats().inFlight);
    },
  });
}
