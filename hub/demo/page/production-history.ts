/**
 * The production line before the page opened, read from the log: the site's
 * completed batches (only `production:update`, filtered by NATS on its subject)
 * from the start of a window up to the snapshot's offset, summed, and lifted so
 * the last point is the snapshot's volume: the line enters the window at what was
 * produced today before it. The window is the last three hours within today;
 * a busy plant (more events than BACKFILL_MAX_EVENTS) gets an eighth of it.
 */
import type { DashboardSnapshot } from '../../../projections/index.ts';
import { parseDomainEvent } from '../../../protocol/index.ts';

const BACKFILL_MS = 3 * 3600_000;
const BACKFILL_MAX_EVENTS = 20_000;

/** `[ts ms, cumulative m³]` points of the site's line up to `s.offset`, oldest first. */
export async function productionHistory(s: DashboardSnapshot, token: string): Promise<Array<[number, number]>> {
  const dayStart = Date.parse(s.day); // midnight UTC; the view's day may start a few hours off, hence the lift
  let window = BACKFILL_MS;
  for (let attempt = 0; attempt < 3; attempt++, window /= 8) {
    const from = Math.max(Date.now() - window, Number.isNaN(dayStart) ? 0 : dayStart);
    const completed = await completedBatches(s.siteId, from, s.offset, token);
    if (completed === undefined) continue;
    let sum = 0;
    for (const c of completed) sum += c[1];
    // Normally what was produced before the window; below zero when the log holds completions the view
    // did not count (a batch of yesterday completed today): then the line is lowered to end at the view's figure.
    const before = s.production.volume - sum;
    let cumulative = before;
    const points = completed.map(([ts, volume]): [number, number] => [ts, Math.max(0, (cumulative += volume))]);
    // Produced before the window: the line enters at that level; otherwise it starts with the first batch.
    return before > 0 ? [[from, before], ...points] : points;
  }
  return [];
}

/** `[ts, m³]` of each batch completed from `from` (ms) to `offset`, or undefined past BACKFILL_MAX_EVENTS events. */
async function completedBatches(siteId: string, from: number, offset: number, token: string): Promise<Array<[number, number]> | undefined> {
  const res = await fetch(`/api/sites/${siteId}/events?events=production:update&from=${new Date(from).toISOString()}&to=${offset}`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok || res.body === null) throw new Error(`events: ${res.status}`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  const out: Array<[number, number]> = [];
  // A batch completed twice counts once, as in the view.
  const seen = new Set<string>();
  let events = 0;
  let rest = '';
  for (;;) {
    const { done, value } = await reader.read();
    const lines = (rest + (value ?? '')).split('\n');
    rest = done ? '' : lines.pop()!;
    for (const line of lines) {
      if (line === '') continue;
      if (++events > BACKFILL_MAX_EVENTS) {
        await reader.cancel();
        return undefined;
      }
      const e = JSON.parse(line) as { ts: number; data: unknown };
      try {
        const domain = parseDomainEvent('production:update', e.data);
        if (domain?.type === 'batch_completed' && !seen.has(domain.batchId)) {
          seen.add(domain.batchId);
          out.push([e.ts, domain.volume]);
        }
      } catch {
        // A malformed payload (the projections dead-letter it): no production either.
      }
    }
    if (done) return out;
  }
}
