/**
 * The query of an events export (`GET /api/events/:stream`, `/api/sites/:id/events`),
 * checked whole before anything is read: an unknown parameter, a repeated one or a
 * bad value is a 400 that says which and why, never silently ignored.
 */
import { type LogBound, parseBound } from '../protocol/log-bound.ts';
import { LogSelectionError } from '../protocol/replay-errors.ts';
import { EXPORT_FORMATS, type ExportFormat } from './record-encoder.ts';

export interface ExportQuery {
  readonly sites?: readonly string[];
  readonly users?: readonly string[];
  readonly events?: readonly string[];
  readonly from?: LogBound;
  readonly to?: LogBound;
  readonly limit?: number;
  readonly format: ExportFormat;
  readonly follow: boolean;
}

export type ExportParam = 'sites' | 'users' | 'events' | 'from' | 'to' | 'limit' | 'format' | 'follow';

/** A query the export cannot take; the message names the parameter. */
export class ExportQueryError extends Error {
  override readonly name = 'ExportQueryError';
}

const HINTS: Record<string, string> = { event: 'events', site: 'sites', user: 'users', since: 'from', until: 'to', type: 'events' };
const MAX_LIMIT = 1_000_000_000;

export function parseExportQuery(query: string, allowed: readonly ExportParam[]): ExportQuery {
  const params = new URLSearchParams(query);
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (!(allowed as readonly string[]).includes(name)) {
      const hint = HINTS[name] !== undefined && (allowed as readonly string[]).includes(HINTS[name]) ? ` (did you mean ${HINTS[name]}?)` : '';
      throw new ExportQueryError(`unknown parameter ${JSON.stringify(name)}${hint}; this route takes ${allowed.join(', ')}`);
    }
    if (seen.has(name)) throw new ExportQueryError(`${name} is given twice: give one value (lists are comma-separated)`);
    seen.add(name);
  }
  const format = (params.get('format') ?? 'ndjson') as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) throw new ExportQueryError(`format must be one of ${EXPORT_FORMATS.join(', ')}, not ${JSON.stringify(params.get('format'))}`);
  const follow = flag(params.get('follow'));
  if (follow && format !== 'ndjson') throw new ExportQueryError(`follow=1 streams NDJSON only (a ${format} file has an end)`);
  let from;
  let to;
  try {
    from = parseBound(params.get('from'), 'from');
    to = parseBound(params.get('to'), 'to');
  } catch (e) {
    if (e instanceof LogSelectionError) throw new ExportQueryError(e.message);
    throw e;
  }
  return { sites: list(params, 'sites'), users: list(params, 'users'), events: list(params, 'events'), from, to, limit: limit(params.get('limit')), format, follow };
}

function list(params: URLSearchParams, name: string): string[] | undefined {
  const raw = params.get(name);
  if (raw === null) return undefined;
  const items = raw.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new ExportQueryError(`${name} is a comma-separated list without empty items, not ${JSON.stringify(raw.slice(0, 60))}`);
  return items;
}

function flag(raw: string | null): boolean {
  if (raw === null || raw === '0' || raw === 'false') return false;
  if (raw === '1' || raw === 'true') return true;
  throw new ExportQueryError(`follow must be 1 or 0, not ${JSON.stringify(raw.slice(0, 20))}`);
}

function limit(raw: string | null): number | undefined {
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1 || n > MAX_LIMIT) throw new ExportQueryError(`limit must be an integer from 1 to ${MAX_LIMIT}, not ${JSON.stringify(raw.slice(0, 20))}`);
  return n;
}
