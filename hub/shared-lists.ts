/**
 * One frozen array per distinct content, shared by every holder of that content: thousands of a site's viewers
 * hold one `['site/7/alarm']` and one `['7', 1]`, not an array each (~60 bytes a connection). Holders never
 * change a shared array: they replace it with another.
 */

/** Distinct lists kept for sharing at most; past it a holder keeps its own (still correct). */
const MAX_SHARED_LISTS = 10_000;
const lists = new Map<string, readonly (string | number)[]>();

/** The shared list with these items (in this order), or `items` itself, frozen, once the table is full. */
export function sharedList<T extends string | number>(items: T[]): readonly T[] {
  // Strings and numbers apart: `['7', 1]` and `[7, '1']` are other lists.
  const key = JSON.stringify(items);
  const known = lists.get(key);
  if (known !== undefined) return known as readonly T[];
  Object.freeze(items);
  if (lists.size < MAX_SHARED_LISTS) lists.set(key, items);
  return items;
}
