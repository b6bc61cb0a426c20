/** The simulated plant: deterministic for a seed; a named run's batches and alarms never reuse an earlier run's ids. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlantModel } from '../hub/demo/plant-model.ts';

/** Ids of the batches and alarms among the first `n` events. */
function ids(model: PlantModel, n: number): Set<string> {
  const out = new Set<string>();
  for (const e of model.take(n)) {
    const d = e.data as { type?: string; batch?: { id: string }; id?: unknown };
    if (e.event === 'production:update' && d.batch !== undefined) out.add(d.batch.id);
    if (e.event === 'alarm:new') out.add(String(d.id));
  }
  return out;
}

describe('plant model', () => {
  it('replays the same day for the same seed', () => {
    assert.deepEqual(new PlantModel({ sites: ['1', '2'], seed: 5 }).take(500), new PlantModel({ sites: ['1', '2'], seed: 5 }).take(500));
  });

  it('names batches and alarms after the run, so a demo restarted on the same log counts its own (the views count an id once)', () => {
    const first = ids(new PlantModel({ sites: ['1'], seed: 5, run: 'a1' }), 2000);
    const second = ids(new PlantModel({ sites: ['1'], seed: 5, run: 'b2' }), 2000);
    assert.ok(first.size > 50 && [...first].some((id) => id.startsWith('1-a1-A')), 'batches and alarms were made');
    assert.deepEqual([...first].filter((id) => second.has(id)), []);
    // Without a run name, the same seed gives the same ids (tests and the bench replay them).
    assert.deepEqual(ids(new PlantModel({ sites: ['1'], seed: 5 }), 2000), ids(new PlantModel({ sites: ['1'], seed: 5 }), 2000));
  });
});
