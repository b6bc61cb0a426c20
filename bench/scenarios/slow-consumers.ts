/**
 * slow-consumers: a fraction of the clients stop reading their sockets for
 * `--stall-seconds` while events (with an alarm every `--alarm-every`) flow.
 * The others must not slow down; the slow ones must still get every critical
 * event (after reading again, or after the server closed them and they resumed);
 * shedding shows up as their loss of normal events, forced closes as server closes.
 *
 * RESUME PLUG-IN (issue 3): a slow client the hub closes (close code 4509)
 * reconnects and resumes from its offset (load/hub-protocol-client.ts).
 */
import { RunSession } from '../run-session.ts';
import { assemble, inFraction, type ScenarioRun } from './scenario.ts';

export async function runSlowConsumers(run: ScenarioRun) {
  const o = run.options;
  const s = await RunSession.open({ options: o, target: run.target, cpuProfDir: run.cpuProfDir, groupOf: (i) => (inFraction(i, o.slowFraction) ? 1 : 0), groupLabels: ['fast', 'slow'] });
  try {
    if (o.warmupS > 0) await s.window('warmup', [{ phase: s.phase('warmup'), rate: o.rate, durationMs: o.warmupS * 1000 }]);
    const phase = s.phase('stall');
    const w = await s.window('stall', [{ phase, rate: o.rate, durationMs: o.durationS * 1000 }], async () => {
      await s.generator.stall(1, o.stallS * 1000);
    });
    const phases = await s.phaseResults([phase]);
    const p = phases[0]!;
    const result = await assemble(s, run, phases, {});
    const fast = p.groups.find((g) => g.group === 0);
    const slow = p.groups.find((g) => g.group === 1);
    const fastTotals = result.integrity.groups.find((g) => g.group === 0)?.totals;
    const slowTotals = result.integrity.groups.find((g) => g.group === 1)?.totals;
    return {
      ...result,
      headline: {
        ...result.headline,
        deliveredPerSec: p.deliveredPerSec,
        serverCpuUsPerDelivery: w.cpu.serverUsPerDelivery,
        fastP50Ms: fast?.latency.p50Ms ?? null,
        fastP99Ms: fast?.latency.p99Ms ?? null,
        fastMaxMs: fast?.latency.maxMs ?? null,
        fastLost: fastTotals?.lost ?? 0,
        slowClients: result.integrity.groups.find((g) => g.group === 1)?.clients ?? 0,
        slowLost: slowTotals?.lost ?? 0,
        slowLostCritical: slowTotals?.lostCritical ?? 0,
        slowMaxMs: slow?.latency.maxMs ?? null,
      },
    };
  } finally {
    await s.close();
  }
}
