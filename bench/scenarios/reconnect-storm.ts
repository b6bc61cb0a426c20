/**
 * reconnect-storm: while events flow, a fraction of the clients lose their
 * connections at the same instant (TCP dropped, no closing handshake) and come
 * straight back. Measured: time until each is subscribed again, time until it
 * has caught up, and what was lost across the outage.
 *
 * RESUME PLUG-IN (issue 3): on the hub, clients re-subscribe with
 * `{siteId, offset, epoch}` (see load/hub-protocol-client.ts); once the hub
 * replays from the offset, `lostAcrossReconnect` must read 0 and `caughtUpP99Ms`
 * becomes the replay-to-live time. Until then the loss of a plain reconnect is
 * reported, separately from loss while connected (which must be 0 today).
 */
import { RunSession } from '../run-session.ts';
import { assemble, inFraction, type ScenarioRun, sleep } from './scenario.ts';

export async function runReconnectStorm(run: ScenarioRun) {
  const o = run.options;
  const s = await RunSession.open({ options: o, target: run.target, cpuProfDir: run.cpuProfDir, groupOf: (i) => (inFraction(i, o.dropFraction) ? 1 : 0), groupLabels: ['stayed', 'dropped'] });
  try {
    if (o.warmupS > 0) await s.window('warmup', [{ phase: s.phase('warmup'), rate: o.rate, durationMs: o.warmupS * 1000 }]);
    const phase = s.phase('storm');
    let dropped = 0;
    await s.window('storm', [{ phase, rate: o.rate, durationMs: o.durationS * 1000 }], async () => {
      // A third into the phase: events flowed before, and keep flowing while they come back.
      await sleep((o.durationS * 1000) / 3);
      dropped = await s.generator.drop(1, o.reconnectJitterMs);
    });
    const phases = await s.phaseResults([phase]);
    const p = phases[0]!;
    const result = await assemble(s, run, phases, {});
    const r = result.reconnect;
    const stayed = p.groups.find((g) => g.group === 0);
    const resume = s.target.protocol === 'socketio' ? 'clients reconnect the same socket.io-client Socket (connection state recovery: pid and offset)' : 'clients re-subscribe with {siteId, offset, epoch} (resume)';
    const note = s.target.resumes ? resume : s.target.name.startsWith('hub') ? 'resume disabled (--no-resume): plain reconnect' : `${s.target.name} has no resume: events sent during an outage are lost`;
    return {
      ...result,
      notes: [...result.notes, note],
      headline: {
        ...result.headline,
        deliveredPerSec: p.deliveredPerSec,
        dropped,
        reconnected: r?.reconnected ?? 0,
        reconnectFailed: r?.failed ?? 0,
        reconnectP50Ms: r?.reconnect.p50Ms ?? null,
        reconnectP99Ms: r?.reconnect.p99Ms ?? null,
        reconnectMaxMs: r?.reconnect.maxMs ?? null,
        caughtUpP99Ms: r?.caughtUp.p99Ms ?? null,
        caughtUpMaxMs: r?.caughtUp.maxMs ?? null,
        notCaughtUp: r?.notCaughtUp ?? 0,
        recovered: r?.recoveredTrue ?? 0,
        stayedP99Ms: stayed?.latency.p99Ms ?? p.latency.p99Ms,
        p99Ms: p.latency.p99Ms,
      },
    };
  } finally {
    await s.close();
  }
}
