/**
 * burst: a steady rate, a spike of `--burst-factor` × that rate for
 * `--burst-seconds`, then the steady rate again. How high latency climbs during
 * the spike, and how long the backlog takes to drain after it.
 */
import { RunSession } from '../run-session.ts';
import { rateFigures } from './fanout.ts';
import { assemble, type ScenarioRun } from './scenario.ts';

export async function runBurst(run: ScenarioRun) {
  const o = run.options;
  const s = await RunSession.open({ options: o, target: run.target, cpuProfDir: run.cpuProfDir });
  try {
    if (o.warmupS > 0) await s.window('warmup', [{ phase: s.phase('warmup'), rate: o.rate, durationMs: o.warmupS * 1000 }]);
    const before = s.phase('steady before');
    const burst = s.phase(`burst ×${o.burstFactor}`);
    const after = s.phase('steady after');
    const w = await s.window('burst', [
      { phase: before, rate: o.rate, durationMs: o.durationS * 1000 },
      { phase: burst, rate: Math.round(o.rate * o.burstFactor), durationMs: o.burstS * 1000 },
      { phase: after, rate: o.rate, durationMs: o.durationS * 1000 },
    ]);
    const phases = await s.phaseResults([before, burst, after]);
    const [pb, pBurst, pa] = phases;
    return await assemble(s, run, phases, {
      ...rateFigures(pBurst!, w),
      steadyP99Ms: pb!.latency.p99Ms,
      afterP99Ms: pa!.latency.p99Ms,
      burstDrainMs: pBurst!.tailAfterEndMs,
    });
  } finally {
    await s.close();
  }
}
