/**
 * fanout: C clients over S sites, the producer sends R events/s. At a fixed rate,
 * or (`--ceiling`) raising R by a factor per step until an event is lost, the
 * producer cannot keep up, delivery stops growing, or p99 is far past the bound.
 * The ceiling is the best step within the bounds (p99, no loss); saturation is
 * the best step at all.
 */
import type { PhaseResult, WindowResult } from '../run-result.ts';
import { RunSession } from '../run-session.ts';
import { assemble, limitOf, type ScenarioRun } from './scenario.ts';

/** How far past the p99 bound the search may go looking for saturation. */
const SATURATION_P99_FACTOR = 20;

export async function runFanout(run: ScenarioRun) {
  const o = run.options;
  const s = await RunSession.open({ options: o, target: run.target, cpuProfDir: run.cpuProfDir });
  try {
    if (o.warmupS > 0) await s.window('warmup', [{ phase: s.phase('warmup'), rate: o.ceiling ? o.ceilingStartRate : o.rate, durationMs: o.warmupS * 1000 }]);
    if (!o.ceiling) {
      const phase = s.phase('measure');
      const w = await s.window('measure', [{ phase, rate: o.rate, durationMs: o.durationS * 1000 }]);
      const phases = await s.phaseResults([phase]);
      const p = phases[0]!;
      return await assemble(s, run, phases, {
        ...rateFigures(p, w),
        saturationPerSec: null,
        ceilingPerSec: null,
      });
    }
    const steps: { p: PhaseResult; w: WindowResult; ok: boolean }[] = [];
    let rate = o.ceilingStartRate;
    for (let k = 0; k < o.ceilingMaxSteps; k++) {
      const phase = s.phase(`step ${k + 1} @ ${rate}/s`);
      const w = await s.window(`step ${k + 1}`, [{ phase, rate, durationMs: o.durationS * 1000 }]);
      const [p] = await s.phaseResults([phase]);
      const lossy = p!.delivered < p!.expected || !w.drained;
      const slow = (p!.latency.p99Ms ?? Infinity) > o.maxP99Ms;
      const ok = !lossy && !slow;
      steps.push({ p: p!, w, ok });
      const prev = steps.at(-2);
      // Past the p99 bound the search goes on while delivery still grows: saturation is the most
      // delivered per second, the ceiling the most within the bounds.
      let stop: string | undefined;
      if (lossy) stop = `lost ${p!.expected - p!.delivered} of ${p!.expected} deliveries`;
      else if ((p!.latency.p99Ms ?? Infinity) > SATURATION_P99_FACTOR * o.maxP99Ms) stop = `p99 ${p!.latency.p99Ms} ms > ${SATURATION_P99_FACTOR} × ${o.maxP99Ms} ms`;
      else if (p!.producedPerSec < 0.9 * rate) stop = `the producer sent only ${Math.round(p!.producedPerSec)} of ${rate} events/s`;
      else if (prev !== undefined && (p!.deliveredPerSec ?? 0) < 1.03 * (prev.p.deliveredPerSec ?? 0)) stop = 'delivery stopped growing';
      if (stop !== undefined) {
        s.notes.push(`ceiling search stopped at step ${k + 1}: ${stop}; limit: ${limitOf(p!, w.cpu, o.workers)}`);
        break;
      }
      rate = Math.round(rate * o.ceilingFactor);
    }
    const best = (xs: typeof steps) => xs.reduce<(typeof steps)[number] | undefined>((a, x) => (a === undefined || (x.p.deliveredPerSec ?? 0) > (a.p.deliveredPerSec ?? 0) ? x : a), undefined);
    const saturation = best(steps)!;
    const ceiling = best(steps.filter((x) => x.ok));
    return await assemble(
      s,
      run,
      steps.map((x) => x.p),
      {
        // The headline's rate figures are those of the saturation step.
        ...rateFigures(saturation.p, saturation.w),
        saturationPerSec: saturation.p.deliveredPerSec,
        // What one core would deliver at the saturation step's cost per delivery: the server's own capacity,
        // apart from what the shared machine (load generator, producer, NATS) left it.
        perCorePerSec: saturation.w.cpu.serverUsPerDelivery === null ? null : 1e6 / saturation.w.cpu.serverUsPerDelivery,
        ceilingPerSec: ceiling?.p.deliveredPerSec ?? null,
        ceilingP99Ms: ceiling?.p.latency.p99Ms ?? null,
        ceilingServerCpuUsPerDelivery: ceiling?.w.cpu.serverUsPerDelivery ?? null,
        // Every target runs the first step at the same rate: the cost per delivery compared at equal load.
        startCpuUsPerDelivery: steps[0]!.w.cpu.serverUsPerDelivery,
      },
    );
  } finally {
    await s.close();
  }
}

/** Figures of one measured phase and its window. */
export function rateFigures(p: PhaseResult, w: WindowResult) {
  return {
    targetRate: p.targetRate,
    producedPerSec: p.producedPerSec,
    deliveredPerSec: p.deliveredPerSec,
    p50Ms: p.latency.p50Ms,
    p99Ms: p.latency.p99Ms,
    p999Ms: p.latency.p999Ms,
    maxMs: p.latency.maxMs,
    serverCpuPercent: w.cpu.serverPercent,
    serverCpuUsPerDelivery: w.cpu.serverUsPerDelivery,
    systemCpuUsPerDelivery: w.cpu.systemUsPerDelivery,
    generatorCpuUsPerDelivery: w.cpu.generatorUsPerDelivery,
  };
}
