/**
 * connections: ramp to N idle connections (each subscribed to its site), at
 * `--connect-rate` per second or as fast as `--connect-concurrency` allows. How
 * many connections a second the server accepts, what one costs in memory and
 * CPU; then, after holding them idle for `--duration`, every site gets events
 * and every connection must receive them (idle connections are still alive).
 */
import { RunSession } from '../run-session.ts';
import { assemble, type ScenarioRun, sleep } from './scenario.ts';

export async function runConnections(run: ScenarioRun) {
  const o = run.options;
  const s = await RunSession.open({ options: o, target: run.target, cpuProfDir: run.cpuProfDir });
  try {
    await sleep(o.durationS * 1000);
    const phase = s.phase('liveness');
    // About two events per site: enough to see every connection receive, too few to matter for memory.
    await s.window('liveness', [{ phase, rate: o.sites * 4, durationMs: 500 }]);
    const phases = await s.phaseResults([phase]);
    const c = s.connect;
    return await assemble(s, run, phases, {
      connectPerSec: c.perSec,
      connectP50Ms: c.latency.p50Ms,
      connectP99Ms: c.latency.p99Ms,
      connectMaxMs: c.latency.maxMs,
      serverCpuUsPerConnection: c.serverCpuUsPerConnection,
      serverRssMB: s.memory.serverRssConnectedBytes === null ? null : s.memory.serverRssConnectedBytes / 1048576,
      p99Ms: phases[0]?.latency.p99Ms ?? null,
    });
  } finally {
    await s.close();
  }
}
