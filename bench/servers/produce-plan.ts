/** What the main process asks a producer to send, and what it reports back. */

export interface PhasePlan {
  /** Tagged into every event it sends. */
  readonly phase: number;
  /** Events per second over all sites. */
  readonly rate: number;
  readonly durationMs: number;
}

export interface ProducePlan {
  readonly phases: readonly PhasePlan[];
  readonly sites: number;
  /** Every Nth sequence number of a site is an alarm; 0 = none. */
  readonly alarmEvery: number;
  readonly payloadBytes: number;
  /** Milliseconds between the producer's batches (events due meanwhile go out together). */
  readonly tickMs: number;
}

export interface PhaseProduced {
  readonly phase: number;
  readonly targetRate: number;
  readonly produced: number;
  readonly startUs: number;
  readonly endUs: number;
  /** Each site's last sequence number when the phase ended. */
  readonly lastSeqBySite: readonly number[];
}

export interface ProduceReport {
  readonly phases: readonly PhaseProduced[];
  /** Sequence numbers whose append failed (never stored, so nobody can lose them), per site. */
  readonly failedBySite: Readonly<Record<number, readonly number[]>>;
  readonly failures: number;
  /** The first append errors, for the report. */
  readonly errors: readonly string[];
}

/** Messages between the main process and a server or producer child (over the IPC channel). */
export type ChildRequestBody =
  | { readonly type: 'gc' }
  | { readonly type: 'produce'; readonly plan: ProducePlan }
  /** Starts V8's sampling profiler (only what is measured gets profiled, not start-up or the connection ramp). */
  | { readonly type: 'profile-start' }
  /** Stops it and writes the profile to `path` (a .cpuprofile for Chrome DevTools or speedscope). */
  | { readonly type: 'profile-stop'; readonly path: string }
  /** Starts measuring the event loop's delay (how late timers run: time the loop was blocked). */
  | { readonly type: 'loop-start' }
  /** Stops it and answers LoopDelay. */
  | { readonly type: 'loop-stop' }
  | { readonly type: 'stop' };

/** Intervals of a 5 ms timer in the server, from `monitorEventLoopDelay` (ms): 5 = loop free, more = blocked. */
export interface LoopDelay {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}
export type ChildRequest = { readonly id: number } & ChildRequestBody;
export type ChildMessage =
  | { readonly type: 'ready'; readonly port: number; readonly info: Readonly<Record<string, string>> }
  | { readonly type: 'reply'; readonly id: number; readonly ok: boolean; readonly result?: unknown; readonly error?: string };
