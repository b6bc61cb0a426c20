/** Calendar days in a time zone, for "today's production". */

const BUCKET_MS = 15 * 60_000; // every UTC offset in use is a multiple of 15 minutes

/**
 * @example
 * const dayOf = calendarDay('Asia/Shanghai');
 * dayOf(Date.parse('2024-05-01T17:00:00Z')); // '2024-05-02'
 */
export function calendarDay(timeZone: string): (ts: number) => string {
  const format = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
  // Formatting costs microseconds and every event of a quarter hour has the same day: cache per bucket.
  const cache = new Map<number, string>();
  return (ts) => {
    const bucket = Math.floor(ts / BUCKET_MS);
    let day = cache.get(bucket);
    if (day === undefined) {
      if (cache.size > 4096) cache.clear();
      day = format.format(new Date(bucket * BUCKET_MS));
      cache.set(bucket, day);
    }
    return day;
  };
}
