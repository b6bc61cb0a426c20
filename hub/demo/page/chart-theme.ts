/** uPlot's look on the dashboard's dark cards: one place for axis, grid and text colours. */
import type uPlot from 'uplot';

export const TEXT = '#cbd5e1';
export const MUTED = '#94a3b8';
export const GRID = 'rgba(148, 163, 184, 0.14)';
export const FONT = '11px system-ui, sans-serif';
export const DANGER = '#f87171';

export function axis(extra: uPlot.Axis = {}): uPlot.Axis {
  return { stroke: MUTED, font: FONT, grid: { stroke: GRID, width: 1 }, ticks: { stroke: GRID, width: 1, size: 4 }, ...extra };
}

/** Device pixels per CSS pixel: uPlot draws on a canvas sized in device pixels. */
export function pxRatio(): number {
  return globalThis.devicePixelRatio || 1;
}
