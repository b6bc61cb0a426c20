/** Telling a poison event from an outage by the Postgres error it causes. */

/**
 * SQLSTATE classes 22 (data exception: a value out of range, a NUL byte in text)
 * and 23 (integrity violation): the data itself is at fault, so retrying cannot
 * help and skipping the event can. Anything else (a lost connection, a shutdown,
 * a lock timeout) is worth retrying.
 */
export function isDataError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** A short description for logs: SQLSTATE and message, or the error's own message. */
export function describeError(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | null;
  const message = typeof err?.message === 'string' && err.message !== '' ? err.message : String(e);
  return typeof err?.code === 'string' ? `${err.code} ${message}` : message;
}
