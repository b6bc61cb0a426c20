/**
 * Production over the day: each site's cumulative m³ (completed batches, the
 * dashboard view's `production.volume` for today) as a line against the time of
 * day. One uPlot for every site; a site seen for the first time becomes a new
 * series (`addSeries`), each snapshot or backfill moves the data (`setData`,
 * at most once a frame): the chart is built once.
 *
 * Each site keeps its own points; the chart's aligned data is their merge, a
 * site's value carried forward between its points (a cumulative total holds
 * until the next batch completes). A new calendar day starts the lines afresh.
 */
import uPlot from 'uplot';
import { axis } from './chart-theme.ts';
import { clock, el, onResize } from './dom.ts';
import { siteColour } from './labels.ts';

/** Points of one site closer together than this (seconds) are one point: a day stays a few thousand. */
const RESOLUTION_S = 1;
/** Past this many points a site's older half is thinned to every other point (the line keeps its shape). */
const MAX_POINTS = 1500;
/** Tick steps of the time axis, seconds: whole seconds to hours, labelled as a clock. */
const TIME_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600];

interface Series {
  /** Seconds since the epoch, ascending. */
  xs: number[];
  ys: number[];
  readonly value: HTMLElement;
}

export class ProductionChart {
  readonly #root: HTMLElement;
  readonly #legend: HTMLElement;
  readonly #plot: uPlot;
  /** In the order the sites appeared, which is their series' order. */
  readonly #series = new Map<string, Series>();
  readonly #onDraw: () => void;
  #day: string | undefined;
  #redraw = 0;

  /** `onDraw` runs after each update is drawn (`data-points` set). */
  constructor(root: HTMLElement, onDraw: () => void = () => {}) {
    this.#root = root;
    this.#onDraw = onDraw;
    const canvas = el('div', { class: 'plot' });
    this.#legend = el('div', { class: 'legend' });
    root.append(this.#legend, canvas);
    const { width, height } = canvas.getBoundingClientRect();
    this.#plot = new uPlot(
      {
        width: Math.max(200, Math.floor(width)),
        height: Math.max(120, Math.floor(height)),
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(10, max * 1.08)] } },
        axes: [axis({ size: 30, space: 70, incrs: TIME_STEPS_S, values: (_u, splits) => splits.map((t) => clock(t * 1000)) }), axis({ size: 60, values: (_u, splits) => splits.map((v) => `${v} m³`) })],
        series: [{}],
      },
      [[]],
      canvas,
    );
    onResize(canvas, (w, h) => this.#plot.setSize({ width: w, height: h }));
  }

  /** `siteId` had produced `volume` m³ on `day` as of `ts` (milliseconds since the epoch). */
  record(siteId: string, day: string, volume: number, ts: number): void {
    if (!this.#sameDay(day)) return;
    const series = this.#site(siteId);
    put(series, ts / 1000, volume);
    series.value.textContent = `${volume.toFixed(1)} m³`;
    this.#schedule();
  }

  /** Earlier points of `siteId`'s line on `day` (read from the log when the page opens): `[ts ms, m³]`. */
  backfill(siteId: string, day: string, points: ReadonlyArray<readonly [number, number]>): void {
    if (!this.#sameDay(day)) return;
    const series = this.#site(siteId);
    for (const [ts, volume] of points) put(series, ts / 1000, volume);
    this.#schedule();
  }

  /** Today's total over every site, m³. */
  get total(): number {
    let sum = 0;
    for (const s of this.#series.values()) sum += s.ys.at(-1) ?? 0;
    return sum;
  }

  #sameDay(day: string): boolean {
    if (this.#day !== undefined && day < this.#day) return false; // a late snapshot of yesterday
    if (this.#day !== undefined && day > this.#day) {
      for (const s of this.#series.values()) {
        s.xs = [];
        s.ys = [];
      }
    }
    this.#day = day;
    return true;
  }

  /** Gives `siteId` its line (and colour) now: call in the order the sites are shown. */
  addSite(siteId: string): void {
    this.#site(siteId);
  }

  #site(siteId: string): Series {
    let series = this.#series.get(siteId);
    if (series !== undefined) return series;
    const colour = siteColour(this.#series.size);
    series = { xs: [], ys: [], value: el('span', { class: 'value' }) };
    this.#series.set(siteId, series);
    // Lines only: a fill would tint the lines below it.
    this.#plot.addSeries({ label: `Site ${siteId}`, stroke: colour, width: 2, points: { show: false } }, this.#series.size);
    // Series and data stay aligned at every draw.
    this.#plot.setData(merge([...this.#series.values()]));
    const swatch = el('span', { class: 'swatch' });
    // A CSSOM write, which the page's CSP (no inline styles) allows.
    swatch.style.background = colour;
    this.#legend.append(el('span', { class: 'entry', 'data-site': siteId }, swatch, `Site ${siteId} `, series.value));
    return series;
  }

  #schedule(): void {
    if (this.#redraw !== 0) return;
    this.#redraw = requestAnimationFrame(() => {
      this.#redraw = 0;
      const data = merge([...this.#series.values()]);
      this.#plot.setData(data);
      this.#root.dataset.points = String(data[0].length);
      // Each site's own points, in series order: what a test checks for a line per site.
      this.#root.dataset.seriesPoints = [...this.#series.values()].map((s) => s.xs.length).join(',');
      this.#onDraw();
    });
  }
}

/** Adds a point in time order; one within RESOLUTION_S of a neighbour replaces it. */
function put(s: Series, x: number, y: number): void {
  let i = s.xs.length;
  while (i > 0 && s.xs[i - 1]! > x) i--;
  if (i > 0 && x - s.xs[i - 1]! < RESOLUTION_S) {
    s.ys[i - 1] = y;
    return;
  }
  s.xs.splice(i, 0, x);
  s.ys.splice(i, 0, y);
  if (s.xs.length > MAX_POINTS) {
    const half = Math.floor(s.xs.length / 2);
    const keep = (_: unknown, k: number) => k >= half || k % 2 === 0;
    s.xs = s.xs.filter(keep);
    s.ys = s.ys.filter(keep);
  }
}

/** uPlot's aligned data: every site's times, each site's value carried forward (null before its first point). */
function merge(series: readonly Series[]): uPlot.AlignedData {
  const xs = [...new Set(series.flatMap((s) => s.xs))].sort((a, b) => a - b);
  const columns = series.map((s) => {
    const ys: Array<number | null> = [];
    let j = -1;
    for (const x of xs) {
      while (j + 1 < s.xs.length && s.xs[j + 1]! <= x) j++;
      ys.push(j < 0 ? null : s.ys[j]!);
    }
    return ys;
  });
  return [xs, ...columns];
}
