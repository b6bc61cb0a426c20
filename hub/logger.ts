import { pino, type Logger } from 'pino';
import { prettyDestination } from './pretty-log.ts';

export type { Logger };

/** `auto`: readable lines on a terminal, JSON lines otherwise (a pipe, a file, a log collector). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Structured logs on stdout. Tokens and query strings are never logged. */
export function createLogger(level: string, name = 'hub', format: LogFormat = 'json'): Logger {
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  const options = { name, level, base: { pid: process.pid } };
  return pretty ? pino(options, prettyDestination()) : pino(options);
}
