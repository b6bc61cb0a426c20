/**
 * The demo page's alarm order and labels, in Node (pure functions, no DOM):
 * open before acknowledged, then by severity, then newest first; every code
 * the plant and the projections use has a human label, and no label shows an
 * underscore.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type Alarm, compareAlarms } from '../hub/demo/page/alarm-order.ts';
import { label, ORDER_STATES, orderedStates, severityRank, TASK_STATES, TRUCK_STATES } from '../hub/demo/page/labels.ts';
import { PlantModel } from '../hub/demo/plant-model.ts';

/** Seeded so a failure can be replayed: FC_SEED=<seed printed below> node --import tsx --test test/demo-alarm-order.test.ts */
const SEED = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);

const alarm = (id: string, status: string, level: string, raisedOffset: number): Alarm => ({ id, siteId: '1', level, title: id, status, raisedOffset, changedOffset: raisedOffset, at: '' });

describe('demo alarm feed order', () => {
  it('puts open alarms first, then by severity (critical, high, medium, low, unknown), then newest first', () => {
    const sorted = [
      alarm('ack-critical', 'acknowledged', 'critical', 90),
      alarm('low-new', 'open', 'low', 80),
      alarm('high-old', 'open', 'high', 10),
      alarm('critical-old', 'open', 'critical', 5),
      alarm('medium', 'open', 'medium', 50),
      alarm('critical-new', 'open', 'critical', 70),
      alarm('warning', 'open', 'warning', 60),
      alarm('ack-low', 'acknowledged', 'low', 95),
      alarm('mystery', 'open', 'unknown', 99),
    ].sort(compareAlarms);
    assert.deepEqual(
      sorted.map((a) => a.id),
      ['critical-new', 'critical-old', 'high-old', 'warning', 'medium', 'low-new', 'mystery', 'ack-critical', 'ack-low'],
    );
  });

  it('orders any feed so no alarm is followed by one that needs a person more (seeded property)', () => {
    const arbitrary = fc.array(
      fc.record({
        status: fc.constantFrom('open', 'acknowledged'),
        level: fc.constantFrom('critical', 'high', 'major', 'medium', 'warning', 'low', 'minor', 'unknown', 'odd_level'),
        raisedOffset: fc.nat(1000),
      }),
      { maxLength: 40 },
    );
    const key = (a: Alarm) => [a.status === 'open' ? 0 : 1, severityRank(a.level), -a.raisedOffset];
    try {
      fc.assert(
        fc.property(arbitrary, (rows) => {
          const sorted = rows.map((r, i) => alarm(`a${i}`, r.status, r.level, r.raisedOffset)).sort(compareAlarms);
          for (let i = 1; i < sorted.length; i++) {
            const [p, q] = [key(sorted[i - 1]!), key(sorted[i]!)];
            const k = p.findIndex((v, j) => v !== q[j]);
            assert.ok(k < 0 || p[k]! < q[k]!, `${JSON.stringify(sorted[i - 1])} before ${JSON.stringify(sorted[i])}`);
          }
        }),
        { seed: SEED, numRuns: 300 },
      );
    } catch (e) {
      console.error(`demo alarm order property failed with seed ${SEED} (replay: FC_SEED=${SEED})`);
      throw e;
    }
  });
});

describe('demo labels', () => {
  it('labels the states as a person writes them', () => {
    assert.equal(label('in_transit'), 'In transit');
    assert.equal(label('in_production'), 'In production');
    assert.equal(label('acknowledged'), 'Acknowledged');
    assert.equal(label('critical'), 'Critical');
    // Codes nobody listed are still written as words.
    assert.equal(label('waiting_for_pump'), 'Waiting for pump');
    assert.equal(label('on-hold'), 'On hold');
  });

  it('has a label without underscores for every state and level the simulated plant sends', () => {
    const codes = new Set<string>([...TRUCK_STATES, ...TASK_STATES, ...ORDER_STATES, 'open', 'acknowledged', 'warning']);
    for (const e of new PlantModel({ sites: ['1', '2'], seed: 7 }).take(3000)) {
      const d = e.data as { status?: unknown; level?: unknown };
      if (typeof d.status === 'string') codes.add(d.status);
      if (typeof d.level === 'string') codes.add(d.level);
    }
    assert.ok(codes.has('in_transit') && codes.has('critical'), 'the plant sent what the test expects');
    for (const code of codes) assert.match(label(code), /^[A-Z][a-z]*( [a-z]+)*$/, `${code} → ${label(code)}`);
  });

  it('lists the usual states first, at zero too, then any other in name order', () => {
    assert.deepEqual(orderedStates(TRUCK_STATES, { loading: 2, broken_down: 1, delivering: 1, at_pump: 1 }), ['idle', 'loading', 'delivering', 'returning', 'at_pump', 'broken_down']);
  });
});
