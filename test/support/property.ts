/**
 * fast-check, seeded: every property of a test process runs from one seed, picked at random or read
 * from PROPERTY_SEED, and a failure's message starts with that seed and the command to replay it.
 * The same seed replays the same cases, shrinking included.
 */
import fc from 'fast-check';

export const PROPERTY_SEED = seedFromEnvironment();

function seedFromEnvironment(): number {
  const raw = process.env.PROPERTY_SEED;
  if (raw === undefined || raw.trim() === '') return Math.floor(Math.random() * 2 ** 31);
  const seed = Number(raw);
  if (!Number.isInteger(seed)) throw new Error(`PROPERTY_SEED=${JSON.stringify(raw)} must be an integer (the seed a failed run printed)`);
  return seed;
}

/** fc.assert with the process's seed; a failure names the seed. */
export function assertProperty<Ts>(property: fc.IProperty<Ts>, params: fc.Parameters<Ts> = {}): void {
  try {
    fc.assert(property, { ...params, seed: PROPERTY_SEED });
  } catch (e) {
    throw replayable(e);
  }
}

/** fc.assert of an async property with the process's seed; a failure names the seed. */
export async function assertAsyncProperty<Ts>(property: fc.IAsyncProperty<Ts>, params: fc.Parameters<Ts> = {}): Promise<void> {
  try {
    await fc.assert(property, { ...params, seed: PROPERTY_SEED });
  } catch (e) {
    throw replayable(e);
  }
}

function replayable(e: unknown): Error {
  const file = process.argv.find((a) => a.endsWith('.test.ts')) ?? '<the test file>';
  return new Error(`property failed with seed ${PROPERTY_SEED}; replay: PROPERTY_SEED=${PROPERTY_SEED} node --import tsx --test ${file}\n${(e as Error).message}`, { cause: e });
}
