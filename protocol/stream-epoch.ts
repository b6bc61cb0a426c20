/**
 * A stream's epoch: its creation time, in base 36. Recreating a stream (and so
 * restarting its offsets at 1) changes it, which is how a stored offset is known
 * to belong to another life of the log. Browser-safe.
 */
export function epochOf(created: string): string {
  return Date.parse(created).toString(36);
}
