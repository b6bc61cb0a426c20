/** Medians over repeated runs and ratios between targets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRatio, median, ratio } from '../bench/ratio.ts';
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
});
