/**
 * End-to-end latency as an HDR histogram in microseconds. Each load worker
 * records into its own histograms; they travel to the main thread compressed
 * and are merged there, so percentiles are exact over every delivery, not an
 * average of per-worker percentiles.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

/** Values above this (two minutes) are clamped: a delivery that late is a failure anyway. */
export const MAX_TRACKABLE_US = 120_000_000;

export function createHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: MAX_TRACKABLE_US, numberOfSignificantValueDigits: 3, autoResize: false });
}

/** Records one latency, clamped into the trackable range (clock readings in two threads can differ by a microsecond). */
export function recordUs(h: Histogram, us: number): void {
  h.recordValue(us < 1 ? 1 : us > MAX_TRACKABLE_US ? MAX_TRACKABLE_US : us);
}

export function encodeHistogram(h: Histogram): string {
  return hdr.encodeIntoCompressedBase64(h);
}

/** Merges encoded histograms (one per worker) into one. */
export function mergeEncoded(encoded: readonly string[]): Histogram {
  const merged = createHistogram();
  for (const e of encoded) merged.add(hdr.decodeFromCompressedBase64(e));
  return merged;
}

/** Percentiles of a histogram, in milliseconds (what a reader compares with "p99 ≤ 50 ms"). */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly p999Ms: number | null;
  readonly maxMs: number | null;
  readonly meanMs: number | null;
}

export function summarize(h: Histogram): LatencySummary {
  const count = h.totalCount;
  if (count === 0) return { count, p50Ms: null, p99Ms: null, p999Ms: null, maxMs: null, meanMs: null };
  const ms = (us: number) => Math.round(us) / 1000;
  return {
    count,
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
    meanMs: ms(h.mean),
  };
}
