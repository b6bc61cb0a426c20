/** Per-worker latency histograms merge into one exact histogram. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createHistogram, encodeHistogram, MAX_TRACKABLE_US, mergeEncoded, recordUs, summarize } from '../bench/latency-histogram.ts';

describe('latency histograms', () => {
  it('merges encoded worker histograms into the same percentiles as one histogram of everything', () => {
    const all = createHistogram();
    const workers = [createHistogram(), createHistogram(), createHistogram()];
    for (let i = 1; i <= 30_000; i++) {
      const us = (i * 7919) % 50_000 + 1;
      recordUs(all, us);
      recordUs(workers[i % 3]!, us);
    }
    const merged = mergeEncoded(workers.map(encodeHistogram));
    assert.equal(merged.totalCount, 30_000);
    for (const p of [50, 99, 99.9, 100]) assert.equal(merged.getValueAtPercentile(p), all.getValueAtPercentile(p));
  });

  it('summarizes in milliseconds with three significant digits', () => {
    const h = createHistogram();
    for (let i = 0; i < 990; i++) recordUs(h, 1000);
    for (let i = 0; i < 10; i++) recordUs(h, 80_000);
    const s = summarize(h);
    assert.equal(s.count, 1000);
    assert.ok(Math.abs(s.p50Ms! - 1) < 0.01);
    assert.ok(Math.abs(s.maxMs! - 80) < 0.1);
  });

  it('reports no percentiles for an empty histogram', () => {
    assert.deepEqual(summarize(mergeEncoded([])), { count: 0, p50Ms: null, p99Ms: null, p999Ms: null, maxMs: null, meanMs: null });
  });

  it('clamps values below 1 µs and beyond the trackable range instead of throwing', () => {
    const h = createHistogram();
    recordUs(h, -3);
    recordUs(h, MAX_TRACKABLE_US * 10);
    assert.equal(h.totalCount, 2);
  });
});
