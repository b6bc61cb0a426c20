/**
 * The alarm feed across sites: open alarms first, by severity, newest first
 * (compareAlarms); acknowledged ones stay, muted, until cleared. Live events
 * apply at once; each site snapshot is the truth up to its offset.
 */
import type { DashboardSnapshot } from '../../../projections/index.ts';
import { CLOSED_ALARM_STATUSES } from '../../../protocol/index.ts';
import { type Alarm, compareAlarms } from './alarm-order.ts';
import { clock, el } from './dom.ts';
import { label } from './labels.ts';

export class AlarmFeed {
  readonly #list: HTMLElement;
  readonly #summary: HTMLElement;
  readonly #acknowledge: (alarm: Alarm) => Promise<void>;
  readonly #alarms = new Map<string, Alarm>();
  /** Alarms cleared live, by id: the offset of the clearing, until a snapshot of the site reaches it. */
  readonly #cleared = new Map<string, { siteId: string; offset: number }>();

  constructor(list: HTMLElement, summary: HTMLElement, acknowledge: (alarm: Alarm) => Promise<void>) {
    this.#list = list;
    this.#summary = summary;
    this.#acknowledge = acknowledge;
  }

  raised(alarm: Alarm): void {
    this.#cleared.delete(alarm.id);
    this.#alarms.set(alarm.id, alarm);
    this.render();
  }

  /** An `alarm:update` at `offset`: acknowledged, or cleared (which takes it off the feed). */
  changed(id: string, status: string, at: string, offset: number): void {
    const known = this.#alarms.get(id);
    if (known === undefined) return;
    if (CLOSED_ALARM_STATUSES.includes(status)) {
      this.#alarms.delete(id);
      this.#cleared.set(id, { siteId: known.siteId, offset });
    } else {
      known.status = status;
      known.at = at;
      known.changedOffset = offset;
    }
    this.render();
  }

  /** A site's snapshot: its newest open alarms as of `offset`; older ones it no longer lists were cleared. */
  reconcile(s: DashboardSnapshot): void {
    for (const a of s.alarms.recent) {
      // A live event newer than the snapshot wins.
      if ((this.#cleared.get(a.id)?.offset ?? 0) > s.offset || (this.#alarms.get(a.id)?.changedOffset ?? 0) > s.offset) continue;
      this.#alarms.set(a.id, { id: a.id, siteId: s.siteId, level: a.level, title: a.title ?? a.id, status: a.status, raisedOffset: a.offset, changedOffset: s.offset, at: a.changedAt });
    }
    const listed = new Set(s.alarms.recent.map((a) => a.id));
    for (const [id, a] of this.#alarms) if (a.siteId === s.siteId && a.changedOffset <= s.offset && !listed.has(id)) this.#alarms.delete(id);
    for (const [id, c] of this.#cleared) if (c.siteId === s.siteId && c.offset <= s.offset) this.#cleared.delete(id);
    this.render();
  }

  render(): void {
    const list = [...this.#alarms.values()].sort(compareAlarms);
    const open = list.filter((a) => a.status === 'open').length;
    this.#summary.replaceChildren(el('span', { class: open > 0 ? 'count raised' : 'count' }, `${open} open`), ' · ', el('span', { class: 'count' }, `${list.length - open} acknowledged`));
    this.#list.replaceChildren(...(list.length === 0 ? [el('li', { class: 'empty' }, 'No open alarms')] : list.map((a) => this.#item(a))));
  }

  #item(a: Alarm): HTMLElement {
    const item = el(
      'li',
      { class: `alarm sev-${severityClass(a.level)} ${a.status === 'open' ? 'open' : 'acknowledged'}`, 'data-alarm': a.id, 'data-status': a.status, 'data-level': a.level, 'data-offset': String(a.raisedOffset) },
      el('span', { class: 'level' }, label(a.level)),
      el('span', { class: 'where' }, `Site ${a.siteId}`),
      el('span', { class: 'time' }, clock(a.at)),
      el('span', { class: 'title' }, a.title),
    );
    // An open alarm shows its button; any other, its status.
    if (a.status !== 'open') item.append(el('span', { class: 'status' }, label(a.status)));
    else {
      const button = el('button', { type: 'button' }, 'Acknowledge') as HTMLButtonElement;
      button.addEventListener('click', () => {
        button.disabled = true;
        void this.#acknowledge(a).catch(() => {
          button.disabled = false;
        });
      });
      item.append(button);
    }
    return item;
  }
}

/** A class name for the level's colour: event data never becomes a class name as is. */
function severityClass(level: string): string {
  return ['critical', 'high', 'major', 'medium', 'warning', 'low', 'minor'].includes(level) ? level : 'other';
}
