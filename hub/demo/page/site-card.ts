/**
 * One site's card: today's figures, silo levels against their minimum, trucks by
 * state, deliveries and orders by state. Built once per site; snapshots and
 * inventory refetches update the text and the charts in place.
 */
import type { DashboardSnapshot, InventorySnapshot } from '../../../projections/index.ts';
import { BarChart } from './bar-chart.ts';
import { clock, el } from './dom.ts';
import { DANGER } from './chart-theme.ts';
import { label, ORDER_STATES, orderedStates, stateColour, TASK_STATES, TRUCK_STATES } from './labels.ts';

type InventoryLine = InventorySnapshot['items'][number];

const SILO_COLOUR = '#38bdf8';

export class SiteCard {
  readonly element: HTMLElement;
  readonly #updated: HTMLElement;
  readonly #volume: HTMLElement;
  readonly #batches: HTMLElement;
  readonly #completed: HTMLElement;
  readonly #openAlarms: HTMLElement;
  readonly #alarmsKpi: HTMLElement;
  readonly #silos: BarChart;
  readonly #siloBox: HTMLElement;
  readonly #trucks: BarChart;
  readonly #tasks: HTMLElement;
  readonly #orders: HTMLElement;

  /** Appends the card to `parent` first: the charts size themselves from their box. */
  constructor(siteId: string, parent: HTMLElement) {
    this.#updated = el('span', { class: 'updated' });
    this.#volume = el('span', { 'data-field': 'volume' }, '–');
    this.#batches = el('span', { 'data-field': 'batches' }, '–');
    this.#completed = el('span', { 'data-field': 'completed' }, '–');
    this.#openAlarms = el('span', { 'data-field': 'open-alarms' }, '–');
    this.#alarmsKpi = el('div', { class: 'kpi alarms' }, el('span', { class: 'figure' }, this.#openAlarms), el('span', { class: 'caption' }, 'open alarms'));
    const siloPlot = el('div', { class: 'chart', 'data-chart': 'silos' });
    const truckPlot = el('div', { class: 'chart', 'data-chart': 'trucks' });
    this.#siloBox = el('div', { class: 'box silos' }, el('h3', {}, 'Silo levels ', el('span', { class: 'hint' }, el('span', { class: 'min-mark' }), 'minimum')), siloPlot);
    this.#tasks = el('div', { class: 'states', 'data-list': 'tasks' });
    this.#orders = el('div', { class: 'states', 'data-list': 'orders' });
    this.element = el(
      'section',
      { class: 'site', 'data-site': siteId },
      el('h2', {}, `Site ${siteId}`, this.#updated),
      el(
        'div',
        { class: 'kpis' },
        el('div', { class: 'kpi' }, el('span', { class: 'figure' }, this.#volume), el('span', { class: 'caption' }, 'm³ today')),
        el('div', { class: 'kpi' }, el('span', { class: 'figure' }, this.#completed, el('small', {}, ' / '), this.#batches), el('span', { class: 'caption' }, 'batches done')),
        this.#alarmsKpi,
      ),
      this.#siloBox,
      el('div', { class: 'box trucks' }, el('h3', {}, 'Trucks by state'), truckPlot),
      el('div', { class: 'box' }, el('h3', {}, 'Deliveries'), this.#tasks),
      el('div', { class: 'box' }, el('h3', {}, 'Orders'), this.#orders),
    );
    parent.append(this.element);
    this.#silos = new BarChart(siloPlot, { horizontal: true, labelWidth: 104 });
    this.#trucks = new BarChart(truckPlot, { horizontal: false });
  }

  showSnapshot(s: DashboardSnapshot): void {
    this.element.dataset.offset = String(s.offset);
    this.#updated.textContent = s.updatedAt === null ? '' : `updated ${clock(s.updatedAt)}`;
    this.#volume.textContent = s.production.volume.toFixed(1);
    this.#batches.textContent = String(s.production.batches);
    this.#completed.textContent = String(s.production.byStatus.completed?.batches ?? 0);
    this.#openAlarms.textContent = String(s.alarms.open);
    this.#alarmsKpi.classList.toggle('raised', s.alarms.unacknowledged > 0);
    this.#trucks.update(orderedStates(TRUCK_STATES, s.vehicles).map((state) => ({ key: state, label: label(state), value: s.vehicles[state] ?? 0, colour: stateColour(state), text: String(s.vehicles[state] ?? 0) })));
    this.#tasks.replaceChildren(...states(TASK_STATES, s.tasks));
    this.#orders.replaceChildren(...states(ORDER_STATES, s.orders));
  }

  showInventory(items: readonly InventoryLine[]): void {
    this.#silos.update(
      items.map((i) => ({
        key: i.materialId,
        label: i.name ?? i.materialId,
        value: i.onHand,
        colour: i.low ? DANGER : SILO_COLOUR,
        text: `${i.onHand.toFixed(1)} ${i.unit ?? ''}`.trim(),
        marker: i.threshold,
      })),
    );
    // The same figures as text, for screen readers and for the tests.
    this.#siloBox.querySelector('table')?.remove();
    this.#siloBox.append(
      el(
        'table',
        { class: 'sr-only' },
        ...items.map((i) => el('tr', { 'data-material': i.materialId, class: i.low ? 'low' : '' }, el('td', {}, i.name ?? i.materialId), el('td', {}, `${i.onHand.toFixed(1)} ${i.unit ?? ''}`.trim()), el('td', {}, i.threshold === null ? '' : `minimum ${i.threshold}`), el('td', {}, i.low ? 'Low' : ''))),
      ),
    );
  }
}

/** `Pending 2`, `In transit 3`, …: every preferred state (zero too), then any other. */
function states(preferred: readonly string[], counts: Readonly<Record<string, number>>): HTMLElement[] {
  return orderedStates(preferred, counts).map((state) => {
    const n = counts[state] ?? 0;
    const dot = el('span', { class: 'dot' });
    dot.style.background = stateColour(state);
    return el('span', { class: n === 0 ? 'state zero' : 'state', 'data-key': state }, dot, el('span', { class: 'name' }, label(state)), el('span', { class: 'num' }, n));
  });
}
