/**
 * The hub's own Prometheus metrics, read before and after a measured window: its
 * counters (shed, forced closes, resumes, redeliveries) and its latency from
 * append to "handed to the sockets", which splits end-to-end latency into the
 * part before the fan-out and the part after it.
 */

/** Metric samples by `name{labels}`. */
export type MetricSamples = ReadonlyMap<string, number>;

/** Families the report keeps (the rest of the exposition is process noise). */
const KEPT = /^hub_(events_shed_total|forced_closes_total|critical_redelivered_total|resumes_total|replayed_events_total|connection_refusals_total|event_latency_seconds_(bucket|count|sum)|slow_sockets|consumer_lag_events)\b/;

export function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const key = line.slice(0, space);
    const value = Number(line.slice(space + 1));
    if (KEPT.test(key) && Number.isFinite(value)) out.set(key, value);
  }
  return out;
}

export async function scrape(url: string): Promise<Map<string, number> | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    return res.ok ? parseExposition(await res.text()) : undefined;
  } catch {
    return undefined;
  }
}

/** after − before for counters and histogram buckets; gauges keep their value after. */
export function delta(before: MetricSamples, after: MetricSamples): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) {
    const gauge = k.startsWith('hub_slow_sockets') || k.startsWith('hub_consumer_lag_events');
    const d = gauge ? v : v - (before.get(k) ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/**
 * The bucket bound (ms) under which a share of the window's events fell, from
 * `hub_event_latency_seconds` bucket deltas: "p99 ≤ X ms" at the buckets' resolution.
 */
export function bucketPercentileMs(d: Readonly<Record<string, number>>, percentile: number): number | null {
  const buckets: { le: number; count: number }[] = [];
  for (const [k, v] of Object.entries(d)) {
    const m = /^hub_event_latency_seconds_bucket\{le="([^"]+)"\}$/.exec(k);
    if (m !== null) buckets.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: v });
  }
  buckets.sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const want = (percentile / 100) * total;
  for (const b of buckets) if (b.count >= want) return b.le * 1000;
  return null;
}
