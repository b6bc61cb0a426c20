/** Medians over repeated runs, ratios between targets, and issue 9's goals judged from them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRatio, median, ratio } from '../bench/ratio.ts';
import { formatVerdicts, judgeGoals } from '../bench/report/goals.ts';
import { reduceFigures, summarizeRuns } from '../bench/report/summary.ts';
import type { RunResult } from '../bench/run-result.ts';

describe('ratio maths', () => {
  it('takes the median of odd and even counts, ignoring missing figures', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([null, 5, undefined, Number.NaN]), 5);
    assert.equal(median([]), null);
  });

  it('divides, and refuses to divide by zero or by a missing figure', () => {
    assert.equal(ratio(10, 4), 2.5);
    assert.equal(ratio(1, 0), null);
    assert.equal(ratio(null, 3), null);
    assert.equal(ratio(3, undefined), null);
  });

  it('formats ratios with sensible precision', () => {
    assert.equal(formatRatio(1.234), '1.23×');
    assert.equal(formatRatio(23.45), '23.4×');
    assert.equal(formatRatio(1234), '1234×');
    assert.equal(formatRatio(null), 'n/a');
  });

  it('keeps the worst run for loss and the median for everything else', () => {
    const f = reduceFigures([
      { deliveredPerSec: 100, lost: 0 },
      { deliveredPerSec: 300, lost: 7 },
      { deliveredPerSec: 200, lost: 0 },
    ]);
    assert.deepEqual(f, { deliveredPerSec: 200, lost: 7 });
  });

  it('compares the hub with each baseline as hub/baseline', () => {
    const run = (target: RunResult['target'], deliveredPerSec: number, serverCpuUsPerDelivery: number) => ({ scenario: 'fanout', target, headline: { deliveredPerSec, serverCpuUsPerDelivery, lost: 0 } }) as unknown as RunResult;
    const cmp = summarizeRuns([run('hub', 500_000, 0.6), run('socketio', 50_000, 17), run('uws-bare', 1_000_000, 0.5), run('hub', 700_000, 0.8), run('hub', 600_000, 0.7)]);
    assert.equal(cmp.targets.find((t) => t.target === 'hub')!.runs, 3);
    assert.equal(cmp.ratios['hub/socketio']!.deliveredPerSec, 12);
    assert.ok(Math.abs(cmp.ratios['hub/uws-bare']!.serverCpuUsPerDelivery! - 1.4) < 1e-9);
    assert.equal(cmp.ratios['hub/uws-bare']!.lost, undefined); // counts are shown, not divided
  });

  it('has no ratios when the hub did not run', () => {
    const r = { scenario: 'fanout', target: 'socketio', headline: { deliveredPerSec: 1 } } as unknown as RunResult;
    assert.deepEqual(summarizeRuns([r]).ratios, {});
  });

  it('compares the Socket.IO face with the Socket.IO baseline and with the native protocol', () => {
    const run = (target: RunResult['target'], deliveredPerSec: number) => ({ scenario: 'fanout', target, headline: { deliveredPerSec } }) as unknown as RunResult;
    const cmp = summarizeRuns([run('hub', 300), run('hub-socketio', 150), run('socketio', 30), run('uws-bare', 400)]);
    assert.deepEqual(cmp.targets.map((t) => t.target), ['hub', 'hub-socketio', 'socketio', 'uws-bare']);
    assert.deepEqual(Object.keys(cmp.ratios), ['hub/socketio', 'hub/uws-bare', 'hub-socketio/socketio', 'hub-socketio/hub']);
    assert.equal(cmp.ratios['hub-socketio/socketio']!.deliveredPerSec, 5);
    assert.equal(cmp.ratios['hub-socketio/hub']!.deliveredPerSec, 0.5);
    assert.deepEqual(Object.keys(summarizeRuns([run('hub-socketio', 1), run('socketio', 1)]).ratios), ['hub-socketio/socketio']);
  });
});

describe('issue 9 goals', () => {
  const figures = (entries: [RunResult['target'], Record<string, number | null>][]) => new Map(entries);

  it('judges each goal as a ratio against its bound', () => {
    const v = judgeGoals(
      figures([
        ['hub-socketio', { saturationPerSec: 200_000, perCorePerSec: 400_000, rssPerConnectionKB: 6, serverCpuUsPerDelivery: 3 }],
        ['socketio', { saturationPerSec: 50_000, perCorePerSec: 60_000, rssPerConnectionKB: 15, serverCpuUsPerDelivery: 15 }],
        ['hub', { saturationPerSec: 300_000, perCorePerSec: 600_000, rssPerConnectionKB: 8, serverCpuUsPerDelivery: 1.5 }],
      ]),
    );
    assert.deepEqual(
      v.map((x) => [x.figure, x.ratio, x.met]),
      [
        ['saturationPerSec', 4, false], // 4× < 5×
        ['perCorePerSec', 400_000 / 60_000, true],
        ['rssPerConnectionKB', 0.4, false], // more than a third
        ['serverCpuUsPerDelivery', 2, false], // against the native hub, not the baseline
      ],
    );
  });

  it('compares CPU at the rate every target ran when a ceiling search gave it', () => {
    const [, , , cpu] = judgeGoals(
      figures([
        ['hub-socketio', { serverCpuUsPerDelivery: 3, startCpuUsPerDelivery: 12 }],
        ['hub', { serverCpuUsPerDelivery: 1, startCpuUsPerDelivery: 10 }],
      ]),
    );
    assert.equal(cpu!.figure, 'startCpuUsPerDelivery');
    assert.equal(cpu!.ratio, 1.2);
    assert.equal(cpu!.met, true);
  });

  it('says a goal was not measured when a target or figure is missing, never that it was met', () => {
    const v = judgeGoals(figures([['hub-socketio', { deliveredPerSec: 10, rssPerConnectionKB: 5 }], ['socketio', { deliveredPerSec: 10, rssPerConnectionKB: 15 }]]));
    assert.deepEqual(v.map((x) => x.met), [null, null, true, null]);
    const text = formatVerdicts(v);
    assert.match(text, /deliveries\/s at saturation ≥ 5× the Socket.IO baseline: not measured \(needs hub-socketio and socketio in fanout --ceiling\)/);
    assert.match(text, /idle memory per connection ≤ ⅓ of the Socket.IO baseline: 0.33× \(bound ≤ 0.33×\) — server RSS\/connection \(after GC\): hub-socketio 5.00 KB, socketio 15.00 KB → MET/);
    assert.match(text, /CPU per delivery ≤ 1.5× the native hub protocol: not measured \(needs hub-socketio and hub/);
  });

  it('judges nothing without hub-socketio beside a baseline', () => {
    assert.deepEqual(judgeGoals(figures([['hub', { deliveredPerSec: 1 }], ['socketio', { deliveredPerSec: 1 }]])), []);
    assert.deepEqual(judgeGoals(figures([['hub-socketio', { deliveredPerSec: 1 }]])), []);
    assert.equal(formatVerdicts([]), '');
  });

  it('carries the verdicts in the summary', () => {
    const run = (target: RunResult['target'], rssPerConnectionKB: number) => ({ scenario: 'connections', target, headline: { rssPerConnectionKB } }) as unknown as RunResult;
    const goals = summarizeRuns([run('hub-socketio', 4), run('socketio', 16), run('hub-socketio', 6)]).goals;
    assert.equal(goals.find((g) => g.figure === 'rssPerConnectionKB')!.ratio, 5 / 16);
  });
});
