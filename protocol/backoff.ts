/** Reconnect delays: exponential, capped, with jitter so a thousand clients don't return in step. */
export interface BackoffOptions {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** 0..1: how much of each delay is randomised. */
  readonly jitter: number;
}

export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const base = Math.min(o.maxDelayMs, o.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 - o.jitter + o.jitter * random()));
}
