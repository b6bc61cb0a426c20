/**
 * What a starting hub is still waiting for. Each step logs a line when it begins
 * and when it ends, with the time since the process started, so a person at a
 * terminal can follow a slow first start; `/healthz` lists the steps still
 * pending. Steps overlap (the embedded database opens while the hub connects to
 * NATS), so this is a set, not a sequence.
 */
import type { Logger } from './logger.ts';

/** The steps of a start, in the order a person reads them. */
export type StartStep = 'nats-server' | 'nats' | 'streams' | 'database';

export class StartProgress {
  readonly #log: Logger;
  readonly #pending = new Map<StartStep, { readonly what: string; readonly since: number }>();

  constructor(log: Logger) {
    this.#log = log;
  }

  /** `what` completes "waiting for …" and is what /healthz shows while the step is pending. */
  begin(step: StartStep, what: string, fields: Record<string, unknown> = {}): void {
    this.#pending.set(step, { what, since: performance.now() });
    this.#log.info({ ...fields, sinceStartMs: sinceStart() }, `waiting for ${what}`);
  }

  /** Without a message the step ends silently (its own code has said so). */
  end(step: StartStep, message?: string, fields: Record<string, unknown> = {}): void {
    const pending = this.#pending.get(step);
    this.#pending.delete(step);
    if (message !== undefined) this.#log.info({ ...fields, tookMs: pending === undefined ? undefined : Math.round(performance.now() - pending.since), sinceStartMs: sinceStart() }, message);
  }

  /** A step that will not complete; it leaves the pending list (the caller logs why). */
  abandon(step: StartStep): void {
    this.#pending.delete(step);
  }

  isPending(step: StartStep): boolean {
    return this.#pending.has(step);
  }

  /** What is still awaited, for /healthz: `{step: what}`. */
  waitingFor(): Record<string, string> {
    return Object.fromEntries([...this.#pending].map(([step, { what }]) => [step, what]));
  }
}

/** Milliseconds since this process started: what a person waited, module loading included. */
export function sinceStart(): number {
  return Math.round(process.uptime() * 1000);
}
