/**
 * What every scenario shares: how it is called, how clients are singled out into
 * a group, and how a run's figures are put together with the common headline.
 */
import type { BenchOptions, TargetName } from '../options.ts';
import type { Headline, PhaseResult, RunResult } from '../run-result.ts';
import type { RunSession } from '../run-session.ts';

export interface ScenarioRun {
  readonly options: BenchOptions;
  readonly target: TargetName;
  readonly repeat: number;
  readonly cpuProfDir: string | undefined;
}

export type Scenario = (run: ScenarioRun) => Promise<RunResult>;

/**
 * Whether client i is in a fraction f of the clients: a multiplicative hash, so the
 * chosen clients spread over every site instead of following the site layout.
 */
export function inFraction(i: number, f: number): boolean {
  return Math.imul(i + 1, 2654435761) >>> 0 < f * 4294967296;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A run's result: the session's measurements, the scenario's phases and headline, and the figures every run reports. */
export async function assemble(s: RunSession, run: ScenarioRun, phases: readonly PhaseResult[], headline: Headline): Promise<RunResult> {
  const { integrity, reconnect } = await s.finish();
  const busiest = (f: (w: RunSession['windows'][number]) => number | null) => {
    const xs = s.windows.map(f).filter((x): x is number => x !== null);
    return xs.length === 0 ? null : Math.max(...xs);
  };
  const t = integrity.total;
  return {
    scenario: run.options.scenario,
    target: run.target,
    repeat: run.repeat,
    startedAt: new Date().toISOString(),
    clients: run.options.clients,
    sites: run.options.sites,
    connect: s.connect,
    memory: s.memory,
    windows: s.windows,
    phases,
    integrity,
    reconnect,
    headline: {
      ...headline,
      connected: s.connect.connected,
      connectFailed: s.connect.failed,
      rssPerConnectionKB: s.memory.rssPerConnectionBytes === null ? null : s.memory.rssPerConnectionBytes / 1024,
      rssNoGcPerConnectionKB: s.memory.rssNoGcPerConnectionBytes === null ? null : s.memory.rssNoGcPerConnectionBytes / 1024,
      heapPerConnectionKB: s.memory.heapPerConnectionBytes === null ? null : s.memory.heapPerConnectionBytes / 1024,
      lost: t.lost,
      lostWhileConnected: t.lost - t.lostAcrossReconnect,
      lostAcrossReconnect: t.lostAcrossReconnect,
      duplicates: t.duplicates,
      orderViolations: t.orderViolations,
      offsetViolations: t.offsetViolations,
      serverCloses: Object.values(integrity.serverCloses).reduce((a, b) => a + b, 0),
      generatorCpuPercent: busiest((w) => w.cpu.generatorPercent),
      machineBusyPercent: busiest((w) => w.cpu.machineBusyPercent),
    },
    notes: s.notes,
  };
}

/** Guesses what set a rate limit, from the CPU readings of the window that hit it. */
export function limitOf(phase: PhaseResult, cpu: RunSession['windows'][number]['cpu'], workers: number): string {
  const machine = cpu.machineBusyPercent ?? 0;
  const behind = phase.producedPerSec < 0.9 * phase.targetRate ? `the producer fell behind (${Math.round(phase.producedPerSec)}/s of ${phase.targetRate}/s)` : undefined;
  if ((cpu.serverPercent ?? 0) >= 90) return `server (${Math.round(cpu.serverPercent ?? 0)}% of a core)${behind === undefined ? '' : `; ${behind}`}`;
  // On a shared two-core machine the usual answer: server, producer, NATS and load workers together used every core.
  if (machine >= 90) return `machine (${Math.round(machine)}% of all cores busy: server ${Math.round(cpu.serverPercent ?? 0)}%, load generator ${Math.round(cpu.generatorPercent)}%)${behind === undefined ? '' : `; ${behind}`}`;
  if (behind !== undefined) return behind;
  if (cpu.generatorPercent >= 90 * workers) return `load generator (${Math.round(cpu.generatorPercent)}% CPU over ${workers} workers)`;
  return 'latency or loss bound';
}
