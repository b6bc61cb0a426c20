/**
 * A small categorical bar chart on uPlot: one bar per category with its own
 * colour, its value written at the bar's end, and optionally a marker per bar
 * (a silo's minimum). Horizontal for long names (materials), vertical for short
 * ones (truck states). Built once; `update` moves the data (`setData`), and the
 * categories may change between updates.
 */
import uPlot from 'uplot';
import { axis, DANGER, FONT, pxRatio, TEXT } from './chart-theme.ts';
import { onResize } from './dom.ts';

export interface Bar {
  readonly key: string;
  readonly label: string;
  readonly value: number;
  readonly colour: string;
  /** Written at the bar's end, e.g. `120.5 t`. */
  readonly text: string;
  /** A reference value drawn across the bar (a minimum), or null. */
  readonly marker?: number | null;
}

export interface BarChartOptions {
  readonly horizontal: boolean;
  /** Room for the category labels, CSS pixels (the left axis of a horizontal chart). */
  readonly labelWidth?: number;
}

/** Share of a category's slot the bar fills. */
const BAR_SIZE = 0.62;

export class BarChart {
  readonly #root: HTMLElement;
  readonly #plot: uPlot;
  #bars: readonly Bar[] = [];

  constructor(root: HTMLElement, options: BarChartOptions) {
    this.#root = root;
    const categories = axis({
      side: options.horizontal ? 3 : 2,
      size: options.horizontal ? (options.labelWidth ?? 90) : 28,
      grid: { show: false },
      stroke: TEXT,
      splits: () => this.#bars.map((_, i) => i),
      values: (_u, splits) => splits.map((i) => shorten(this.#bars[i]?.label ?? '', options.horizontal ? 16 : 12)),
    });
    // Each bar carries its value as text: no value axis, more room for the bars.
    const values = axis({ show: false });
    const { width, height } = root.getBoundingClientRect();
    this.#plot = new uPlot(
      {
        width: Math.max(150, Math.floor(width)),
        height: Math.max(80, Math.floor(height)),
        legend: { show: false },
        cursor: { show: false },
        padding: [options.horizontal ? 0 : 16, options.horizontal ? 64 : 4, 0, 4],
        scales: {
          // Horizontal: the first category at the top.
          x: { time: false, ori: options.horizontal ? 1 : 0, dir: options.horizontal ? -1 : 1, range: () => [-0.5, Math.max(1, this.#bars.length) - 0.5] },
          y: { ori: options.horizontal ? 0 : 1, dir: 1, range: () => [0, this.#top()] },
        },
        axes: [categories, values],
        series: [
          {},
          {
            width: 0,
            fill: '#38bdf8',
            paths: uPlot.paths.bars!({ size: [BAR_SIZE, 48], disp: { fill: { unit: 3, values: () => this.#bars.map((b) => b.colour) } } }),
            points: { show: false },
          },
        ],
        hooks: { draw: [(u) => this.#annotate(u)] },
      },
      [[], []],
      root,
    );
    onResize(root, (w, h) => this.#plot.setSize({ width: w, height: h }));
  }

  update(bars: readonly Bar[]): void {
    this.#bars = bars;
    this.#plot.setData([bars.map((_, i) => i), bars.map((b) => b.value)]);
    this.#root.dataset.points = String(bars.length);
  }

  /** The value scale's top: room above the largest bar or marker for its text. */
  #top(): number {
    let max = 0;
    for (const b of this.#bars) max = Math.max(max, b.value, b.marker ?? 0);
    return max <= 0 ? 1 : max * 1.08;
  }

  /** Values at the bars' ends and the markers across them, drawn on the plot's canvas. */
  #annotate(u: uPlot): void {
    const ctx = u.ctx;
    const r = pxRatio();
    const horizontal = u.scales.x!.ori === 1;
    const slot = Math.abs(u.valToPos(1, 'x', true) - u.valToPos(0, 'x', true));
    const half = Math.min((slot * BAR_SIZE) / 2, 24 * r);
    ctx.save();
    ctx.font = FONT.replace(/^(\d+)px/, (_, px: string) => `${Number(px) * r}px`);
    this.#bars.forEach((b, i) => {
      const across = u.valToPos(i, 'x', true);
      const end = u.valToPos(Math.max(0, b.value), 'y', true);
      ctx.fillStyle = TEXT;
      if (horizontal) {
        ctx.textAlign = 'left';
        ctx.textBaseline = 'middle';
        ctx.fillText(b.text, end + 4 * r, across);
      } else {
        ctx.textAlign = 'center';
        ctx.textBaseline = 'bottom';
        ctx.fillText(b.text, across, end - 2 * r);
      }
      if (b.marker === undefined || b.marker === null) return;
      const at = u.valToPos(b.marker, 'y', true);
      ctx.strokeStyle = DANGER;
      ctx.lineWidth = 2 * r;
      ctx.beginPath();
      if (horizontal) {
        ctx.moveTo(at, across - half - 3 * r);
        ctx.lineTo(at, across + half + 3 * r);
      } else {
        ctx.moveTo(across - half - 3 * r, at);
        ctx.lineTo(across + half + 3 * r, at);
      }
      ctx.stroke();
    });
    ctx.restore();
  }
}

/** Long names (from event data) end in an ellipsis rather than running off the axis. */
function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
