/** Property tests are seeded and a failure says how to replay it (test/support/property.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertAsyncProperty, assertProperty, PROPERTY_SEED } from './support/property.ts';

describe('seeded property tests', () => {
  it('a failing property names its seed and the command replaying it', () => {
    assert.throws(
      () => assertProperty(fc.property(fc.integer(), (n) => n < 1000)),
      (e: Error) => e.message.startsWith(`property failed with seed ${PROPERTY_SEED}; replay: PROPERTY_SEED=${PROPERTY_SEED} `) && /Counterexample: \[1000\]/.test(e.message),
    );
  });

  it('an async one too', async () => {
    await assert.rejects(
      assertAsyncProperty(fc.asyncProperty(fc.string(), async (s) => s.length < 3)),
      (e: Error) => e.message.includes(`PROPERTY_SEED=${PROPERTY_SEED}`),
    );
  });

  it('the same seed generates the same cases', () => {
    const run = () => {
      const seen: number[] = [];
      assertProperty(fc.property(fc.integer(), (n) => void seen.push(n)), { numRuns: 20 });
      return seen;
    };
    assert.deepEqual(run(), run());
  });
});
