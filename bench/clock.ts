/**
 * The bench's clock: CLOCK_MONOTONIC in microseconds. It is one clock for every
 * process and thread on the machine, so a send time stamped by a producer in one
 * process and a receipt time in a load worker in another are directly comparable
 * (wall-clock time could step between the two readings; this cannot).
 */

/** Microseconds on the machine-wide monotonic clock. */
export function monotonicUs(): number {
  const [s, ns] = process.hrtime();
  return s * 1_000_000 + Math.floor(ns / 1000);
}
