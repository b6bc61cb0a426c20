/**
 * Range bounds as people type them (query strings, command lines): an offset,
 * or an ISO 8601 time. Browser-safe.
 */
import { LogSelectionError } from './replay-errors.ts';

/** An offset (stream sequence) or a time; both inclusive. */
export type LogBound = number | Date;

/**
 * Parses `from`/`to`: a non-negative integer offset, or an ISO 8601 time
 * (`2024-05-01T08:00:00Z`, or a date); empty or absent gives undefined.
 * @example
 * parseBound('2024-05-01T08:00:00Z', 'from'); // Date
 * parseBound('1200', 'to'); // 1200
 */
export function parseBound(raw: string | null | undefined, name: string): LogBound | undefined {
  if (raw === null || raw === undefined || raw === '') return undefined;
  if (/^\d{1,16}$/.test(raw)) {
    const n = Number(raw);
    if (Number.isSafeInteger(n)) return n;
  }
  if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw)) {
    const time = new Date(raw);
    if (!Number.isNaN(time.getTime())) return time;
  }
  throw new LogSelectionError(`${name} must be an offset (a non-negative integer) or an ISO 8601 time, not ${JSON.stringify(raw.slice(0, 40))}`);
}
