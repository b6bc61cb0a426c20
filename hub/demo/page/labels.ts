/**
 * What the page shows for the plant's codes: one table of human labels
 * (`in_transit` → "In transit"), the alarm severities in order, and the colours
 * the charts give each state. Pure, no DOM: the tests load it in Node.
 */

/** Every code the plant model, the projections and the seed's events use; anything else is humanized. */
const LABELS: Readonly<Record<string, string>> = {
  // Delivery tasks (plant-model TASK_FLOW)
  pending: 'Pending',
  loading: 'Loading',
  in_transit: 'In transit',
  unloading: 'Unloading',
  returning: 'Returning',
  completed: 'Completed',
  // Trucks
  idle: 'Idle',
  delivering: 'Delivering',
  // Orders and batches
  confirmed: 'Confirmed',
  in_production: 'In production',
  in_progress: 'In progress',
  cancelled: 'Cancelled',
  // Alarms
  open: 'Open',
  acknowledged: 'Acknowledged',
  cleared: 'Cleared',
  critical: 'Critical',
  high: 'High',
  major: 'Major',
  medium: 'Medium',
  warning: 'Warning',
  low: 'Low',
  minor: 'Minor',
  unknown: 'Unknown',
  low_stock: 'Low stock',
  // Stock movements
  stock_in: 'Stock in',
  stock_out: 'Stock out',
  adjustment: 'Adjustment',
};

/** The label for a code: from the table, or the code with `_`/`-` as spaces and a capital first letter. */
export function label(code: string): string {
  const known = LABELS[code];
  if (known !== undefined) return known;
  const words = code.replace(/[_-]+/g, ' ').trim();
  return words === '' ? code : words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * Severity rank, most severe first. The plant model raises low, medium, high and
 * critical; the inventory projection raises `warning` (low stock), ranked with
 * medium; `major`/`minor` (other plants' words) rank with high/low.
 */
const SEVERITY: Readonly<Record<string, number>> = { critical: 0, high: 1, major: 1, medium: 2, warning: 2, low: 3, minor: 3 };

export function severityRank(level: string): number {
  return SEVERITY[level] ?? 4;
}

/** Preferred order of states on the charts and lists; states not listed follow, alphabetically. */
export const TRUCK_STATES = ['idle', 'loading', 'delivering', 'returning'] as const;
export const TASK_STATES = ['pending', 'loading', 'in_transit', 'unloading', 'returning', 'completed'] as const;
export const ORDER_STATES = ['confirmed', 'in_production', 'completed'] as const;

/** The keys of `counts` in `preferred` order first (all of them, even at zero), then any others. */
export function orderedStates(preferred: readonly string[], counts: Readonly<Record<string, number>>): string[] {
  const extra = Object.keys(counts)
    .filter((k) => !preferred.includes(k))
    .sort();
  return [...preferred, ...extra];
}

const STATE_COLOURS: Readonly<Record<string, string>> = {
  idle: '#64748b',
  pending: '#64748b',
  loading: '#f59e0b',
  delivering: '#38bdf8',
  in_transit: '#38bdf8',
  unloading: '#a78bfa',
  returning: '#818cf8',
  completed: '#22c55e',
};

export function stateColour(state: string): string {
  return STATE_COLOURS[state] ?? '#94a3b8';
}

/** One colour per site, in the order sites appear. */
const SITE_COLOURS = ['#38bdf8', '#f59e0b', '#34d399', '#f472b6', '#a78bfa', '#facc15', '#fb7185', '#2dd4bf'];

export function siteColour(index: number): string {
  return SITE_COLOURS[index % SITE_COLOURS.length]!;
}
