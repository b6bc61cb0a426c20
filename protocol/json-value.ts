/**
 * What Socket.IO would have sent: a value as `JSON.parse(JSON.stringify(value))`
 * gives it back, built in one walk without the string in between. The seed's
 * services emit Prisma rows: Dates become ISO strings and Decimals their
 * `toJSON()` string ("8.5"), as on the seed's wire. Where `JSON.stringify` would
 * throw, BigInts become decimal strings (a database id must not crash a send),
 * and a circular structure is an InvalidEventError naming where it closes.
 * Browser-safe: no node imports.
 */
import { InvalidEventError } from './errors.ts';

/**
 * @example
 * toJsonValue({ at: new Date(0), volume: new Decimal('8.5'), id: 7n, skip: undefined });
 * // { at: '1970-01-01T00:00:00.000Z', volume: '8.5', id: '7' }
 */
export function toJsonValue(value: unknown): unknown {
  const keys: string[] = [];
  try {
    return walk(value, '', [], keys);
  } catch (e) {
    // JSON.stringify throws a RangeError too on nesting deeper than the stack.
    if (e instanceof RangeError) throw new InvalidEventError(`data cannot be sent as JSON: nested too deeply (${e.message})`, { cause: e });
    throw e;
  }
}

/**
 * One step of SerializeJSONProperty (ECMA-262 25.5.2.2): `toJSON` first, then
 * boxed primitives unwrapped, then the value by type. `ancestors` is the stack of
 * objects being walked, as the spec's: a shared (not circular) object is fine;
 * `keys` the path to it, read only to name a cycle (no string built per key).
 * Returns undefined for what JSON omits (undefined, functions, symbols).
 */
function walk(value: unknown, key: string, ancestors: object[], keys: string[]): unknown {
  if ((typeof value === 'object' && value !== null) || typeof value === 'bigint') {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') value = toJSON.call(value, key);
  }
  if (value instanceof Number || value instanceof String || value instanceof Boolean || value instanceof BigInt) value = value.valueOf();
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      // -0 prints as 0, NaN and ±Infinity as null.
      return Number.isFinite(value) ? (value === 0 ? 0 : value) : null;
    case 'bigint':
      return value.toString();
    case 'object':
      if (value === null) return null;
      break;
    default:
      return undefined;
  }
  if (ancestors.includes(value)) throw new InvalidEventError(`data cannot be sent as JSON: ${pathOf([...keys, key])} refers back to an object that contains it (a circular structure)`);
  ancestors.push(value);
  keys.push(key);
  try {
    if (Array.isArray(value)) {
      const out = new Array<unknown>(value.length);
      // Holes, undefined and functions in an array print as null.
      for (let i = 0; i < value.length; i++) out[i] = walk(value[i], String(i), ancestors, keys) ?? null;
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = walk((value as Record<string, unknown>)[k], k, ancestors, keys);
      if (v === undefined) continue;
      // A plain assignment to "__proto__" would set the prototype instead of a key, as JSON.parse never does.
      if (k === '__proto__') Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
      else out[k] = v;
    }
    return out;
  } finally {
    ancestors.pop();
    keys.pop();
  }
}

/** `keys` holds the key of each ancestor, the root's being ''; the last one is the key of the object seen again. */
function pathOf(keys: readonly string[]): string {
  return keys.map((k, i) => (i === 0 ? 'data' : /^\d+$/.test(k) ? `[${k}]` : `.${k}`)).join('');
}
