import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout. Tokens and query strings are never logged. */
export function createLogger(level: string, name = 'hub'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
