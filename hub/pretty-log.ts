/**
 * Log lines for a person at a terminal: `12:03:04 INFO  hub ready … port=3000`.
 * pino writes JSON; this destination reformats each line it is handed (one
 * complete JSON object per write, pino's contract). pino-pretty would do the
 * same with more options, but it is one more dependency for a few lines.
 */
import type { DestinationStream } from 'pino';

const LEVELS: Record<number, { readonly label: string; readonly color: string }> = {
  10: { label: 'TRACE', color: '\x1b[90m' },
  20: { label: 'DEBUG', color: '\x1b[90m' },
  30: { label: 'INFO ', color: '\x1b[32m' },
  40: { label: 'WARN ', color: '\x1b[33m' },
  50: { label: 'ERROR', color: '\x1b[31m' },
  60: { label: 'FATAL', color: '\x1b[41m' },
};
const RESET = '\x1b[0m';
const DIM = '\x1b[2m';
/** Fields every line has, or that the line already shows. */
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg', 'component']);

/** One JSON log line as a readable line; anything that is not JSON passes through unchanged. */
export function prettyLine(json: string, color: boolean): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json);
  } catch {
    return json;
  }
  const level = LEVELS[entry.level as number] ?? { label: String(entry.level).padEnd(5), color: '' };
  const time = typeof entry.time === 'number' ? new Date(entry.time).toTimeString().slice(0, 8) : '';
  const component = typeof entry.component === 'string' ? `[${entry.component}] ` : '';
  const fields = Object.entries(entry)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
  const paint = (code: string, text: string) => (color && code !== '' ? `${code}${text}${RESET}` : text);
  return `${paint(DIM, time)} ${paint(level.color, level.label)} ${component}${entry.msg ?? ''}${fields === '' ? '' : `  ${paint(DIM, fields)}`}\n`;
}

/** A pino destination writing readable lines to `out` (stdout by default). */
export function prettyDestination(out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): DestinationStream {
  const color = out.isTTY === true && process.env.NO_COLOR === undefined;
  return { write: (line: string) => void out.write(prettyLine(line, color)) };
}
