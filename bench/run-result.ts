/** The shape of one run's figures, as printed and as written to the JSON file. */
import type { LatencySummary } from './latency-histogram.ts';
import type { ScenarioName, TargetName } from './options.ts';
import type { SequenceTotals } from './sequence-check.ts';
import type { LoopDelay } from './servers/produce-plan.ts';

export interface ConnectResult {
  readonly attempted: number;
  readonly connected: number;
  readonly failed: number;
  readonly errors: readonly string[];
  /** First attempt → last client subscribed. */
  readonly durationS: number;
  readonly perSec: number | null;
  /** Attempt → subscribed, per client. */
  readonly latency: LatencySummary;
  readonly serverCpuUsPerConnection: number | null;
}

export interface MemoryResult {
  /** Both after a full GC in the server (twice, 200 ms apart: see ChildServer.gc). */
  readonly serverRssIdleBytes: number | null;
  readonly serverRssConnectedBytes: number | null;
  /** (RSS with every client connected − RSS before) / connected, after a GC in the server. */
  readonly rssPerConnectionBytes: number | null;
  /** Both read before that GC: the idle server as started, the connected one right after the last client subscribed. */
  readonly serverRssIdleNoGcBytes: number | null;
  readonly serverRssConnectedNoGcBytes: number | null;
  /** The same growth without a GC first: what the process holds right after the connect storm, garbage included. */
  readonly rssNoGcPerConnectionBytes: number | null;
  /** Of that, the V8 heap (JavaScript objects) per connection; the rest is native (uWS, kernel buffers are not in RSS). */
  readonly heapPerConnectionBytes: number | null;
  /** Buffers outside the V8 heap (`external`) per connection. */
  readonly externalPerConnectionBytes: number | null;
}

export interface CpuResult {
  readonly serverUs: number | null;
  readonly serverPercent: number | null;
  readonly serverUsPerDelivery: number | null;
  /** The hub's HubPublisher process (null when the server produces itself). */
  readonly producerUs: number | null;
  readonly natsUs: number | null;
  /** Server + producer + nats-server per delivery: the whole path's cost. */
  readonly systemUsPerDelivery: number | null;
  readonly generatorUs: number;
  readonly generatorPercent: number;
  readonly generatorUsPerDelivery: number | null;
  /** All cores busy, 0–100: near 100 means the machine, not the server, set the limit. */
  readonly machineBusyPercent: number | null;
}

export interface WindowResult {
  readonly label: string;
  readonly phases: readonly number[];
  readonly wallS: number;
  readonly deliveries: number;
  readonly cpu: CpuResult;
  /** Whether every expected delivery arrived before the drain gave up. */
  readonly drained: boolean;
  readonly produceFailures: number;
  /**
   * When a 5 ms timer in the server actually fired (monitorEventLoopDelay, ms): 5 means the loop was
   * free; anything above is time the loop was blocked.
   */
  readonly serverLoopDelay: LoopDelay | null;
  /** The server's own metrics over the window (hub only): counter deltas, gauges at the end. */
  readonly serverMetrics?: Readonly<Record<string, number>>;
  /** The hub's append → handed-to-sockets latency, as bucket bounds (ms): p50 ≤ x, p99 ≤ y. */
  readonly serverLatencyP50Ms?: number | null;
  readonly serverLatencyP99Ms?: number | null;
}

export interface GroupPhaseResult {
  readonly group: number;
  readonly label: string;
  readonly expected: number;
  readonly delivered: number;
  readonly deliveredPerSec: number | null;
  readonly latency: LatencySummary;
}

export interface PhaseResult {
  readonly phase: number;
  readonly label: string;
  readonly targetRate: number;
  readonly produced: number;
  readonly producedPerSec: number;
  readonly durationS: number;
  readonly expected: number;
  readonly delivered: number;
  /** Deliveries of this phase's events / (last receipt or phase end − phase start). */
  readonly deliveredPerSec: number | null;
  readonly latency: LatencySummary;
  /** Last receipt of this phase's events after the phase ended: how long the backlog took to drain. */
  readonly tailAfterEndMs: number | null;
  /** When there are several client groups (dropped, slow): each on its own. */
  readonly groups: readonly GroupPhaseResult[];
}

export interface GroupIntegrity {
  readonly group: number;
  readonly label: string;
  readonly clients: number;
  readonly clientsWithLoss: number;
  readonly totals: SequenceTotals;
}

export interface IntegrityResult {
  readonly total: SequenceTotals;
  readonly groups: readonly GroupIntegrity[];
  readonly worst: readonly { readonly id: number; readonly site: number; readonly totals: SequenceTotals }[];
  readonly serverCloses: Readonly<Record<string, number>>;
  readonly errors: readonly string[];
  readonly otherFrames: number;
  readonly produceFailures: number;
}

export interface ReconnectResult {
  readonly drops: number;
  readonly reconnected: number;
  readonly failed: number;
  /** Drop → subscribed again. */
  readonly reconnect: LatencySummary;
  /** Drop → no gap and live again (needs resume to ever happen after a loss). */
  readonly caughtUp: LatencySummary;
  readonly notCaughtUp: number;
  readonly recoveredTrue: number;
  readonly recoveredFalse: number;
  readonly recoveredUnknown: number;
}

/** The figures a scenario is judged by; null when a figure does not apply or could not be measured. */
export type Headline = Readonly<Record<string, number | null>>;

export interface RunResult {
  readonly scenario: ScenarioName;
  readonly target: TargetName;
  readonly repeat: number;
  readonly startedAt: string;
  readonly clients: number;
  readonly sites: number;
  readonly connect: ConnectResult;
  readonly memory: MemoryResult;
  readonly windows: readonly WindowResult[];
  readonly phases: readonly PhaseResult[];
  readonly integrity: IntegrityResult;
  readonly reconnect: ReconnectResult | undefined;
  readonly headline: Headline;
  readonly notes: readonly string[];
}
