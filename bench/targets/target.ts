/**
 * A system under test: a server in its own process that the load workers connect
 * to, and a producer that sends the bench's events through it. The three
 * targets share this shape so every scenario runs unchanged against each.
 */
import type { ClientProtocol } from '../load/worker-protocol.ts';
import type { ChildServer } from '../child-server.ts';
import type { TargetName } from '../options.ts';
import type { ProducePlan, ProduceReport } from '../servers/produce-plan.ts';

export interface RunningTarget {
  readonly name: TargetName;
  /** How its clients speak. */
  readonly protocol: ClientProtocol;
  readonly host: string;
  readonly port: number;
  /** The process whose CPU and memory are "the server's". */
  readonly server: ChildServer;
  /** A producer in a process of its own (the hub's HubPublisher), or undefined when the server produces. */
  readonly producer: ChildServer | undefined;
  /** The nats-server the hub's events pass through, when it could be found. */
  readonly natsPid: number | undefined;
  /** What a client must present to connect (HS256 secret for tokens). */
  readonly jwtSecret: string;
  /** Where the server exposes Prometheus metrics (the hub does). */
  readonly metricsUrl?: string;
  /** Whether subscriptions resume from an offset after an outage. */
  readonly resumes: boolean;
  readonly notes: readonly string[];
  produce(plan: ProducePlan): Promise<ProduceReport>;
  stop(): Promise<void>;
}

export interface TargetStartOptions {
  readonly natsUrl: string;
  readonly resume: boolean;
  /** The hub's HUB_WRITE_DELAY_MS; undefined: its default. Baselines ignore it. */
  readonly writeDelayMs?: number;
}
