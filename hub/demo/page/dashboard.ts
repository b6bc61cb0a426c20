/**
 * The live plant dashboard, in the browser, on HubClient. Per site: today's
 * production, tasks, vehicles, orders, inventory; across sites: the alarm feed
 * with acknowledge buttons. Every piece of event data reaches the page as text
 * (text nodes, `textContent`), never as HTML.
 *
 * State: each site's dashboard is the newest snapshot by `offset` (from
 * `GET /api/sites/:id/dashboard`, then `dashboard:update` pushes, a latest-value
 * class); inventory is refetched (throttled) on `inventory:update`; alarms apply
 * live and are reconciled by each snapshot's open-alarm list.
 */
import { HubClient } from '../../../protocol/client.ts';

interface Snapshot {
  siteId: string;
  offset: number;
  day: string;
  production: { batches: number; volume: number; byStatus: Record<string, { batches: number; volume: number }> };
  tasks: Record<string, number>;
  vehicles: Record<string, number>;
  orders: Record<string, number>;
  alarms: { open: number; unacknowledged: number; openByLevel: Record<string, number>; recent: Array<{ id: string; level: string; title: string | null; status: string; changedAt: string }> };
}

interface InventoryLine {
  materialId: string;
  name: string | null;
  unit: string | null;
  onHand: number;
  threshold: number | null;
  low: boolean;
}

interface Alarm {
  id: string;
  siteId: string;
  level: string;
  title: string;
  status: string;
  at: string;
}

const sites = new Map<string, { snapshot?: Snapshot; inventory?: InventoryLine[]; card: HTMLElement; refetch?: ReturnType<typeof setTimeout> }>();
const alarms = new Map<string, Alarm>();
let token = '';
let client: HubClient;

/** Builds an element; string children become text nodes, so data can never become markup. */
function el(tag: string, attrs: Record<string, string> = {}, ...children: Array<Node | string | number>): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  return e;
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}

function counts(title: string, values: Record<string, number>): HTMLElement {
  const rows = Object.entries(values).sort(([a], [b]) => a.localeCompare(b));
  return el('div', { class: 'box' }, el('h3', {}, title), rows.length === 0 ? el('p', { class: 'muted' }, 'none') : el('table', {}, ...rows.map(([k, n]) => el('tr', { 'data-key': k }, el('td', {}, k), el('td', { class: 'num' }, n)))));
}

function renderSite(id: string): void {
  const site = sites.get(id)!;
  const s = site.snapshot;
  const body: Node[] = [el('h2', {}, `Site ${id}`, el('span', { class: 'offset' }, s === undefined ? '' : ` offset ${s.offset}`))];
  if (s !== undefined) {
    const completed = s.production.byStatus.completed?.batches ?? 0;
    body.push(
      el(
        'div',
        { class: 'box production' },
        el('h3', {}, `Production ${s.day}`),
        el('p', {}, el('span', { class: 'big', 'data-field': 'volume' }, s.production.volume.toFixed(1)), ' m³ produced'),
        el('p', {}, el('span', { 'data-field': 'batches' }, s.production.batches), ' batches, ', el('span', { 'data-field': 'completed' }, completed), ' completed'),
      ),
      counts('Delivery tasks', s.tasks),
      counts('Vehicles', s.vehicles),
      counts('Orders', s.orders),
      counts('Open alarms', s.alarms.openByLevel),
    );
  }
  if (site.inventory !== undefined) {
    body.push(
      el(
        'div',
        { class: 'box inventory' },
        el('h3', {}, 'Inventory'),
        el(
          'table',
          {},
          ...site.inventory.map((i) =>
            el('tr', { class: i.low ? 'low' : '', 'data-material': i.materialId }, el('td', {}, i.name ?? i.materialId), el('td', { class: 'num' }, `${i.onHand.toFixed(1)} ${i.unit ?? ''}`), el('td', { class: 'muted' }, i.threshold === null ? '' : `min ${i.threshold}`), el('td', {}, i.low ? 'LOW' : '')),
          ),
        ),
      ),
    );
  }
  site.card.replaceChildren(...body);
}

function renderAlarms(): void {
  const list = [...alarms.values()].filter((a) => a.status !== 'cleared').sort((a, b) => b.at.localeCompare(a.at));
  const feed = document.getElementById('alarms')!;
  feed.replaceChildren(
    ...(list.length === 0
      ? [el('li', { class: 'muted' }, 'no open alarms')]
      : list.map((a) => {
          const item = el('li', { class: `alarm ${a.level} ${a.status}`, 'data-alarm': a.id }, el('span', { class: 'level' }, a.level), el('span', { class: 'where' }, `site ${a.siteId}`), el('span', { class: 'title' }, a.title), el('span', { class: 'status' }, a.status));
          if (a.status === 'open') {
            const button = el('button', {}, 'Acknowledge') as HTMLButtonElement;
            button.addEventListener('click', () => void acknowledge(a, button));
            item.append(button);
          }
          return item;
        })),
  );
}

async function acknowledge(alarm: Alarm, button: HTMLButtonElement): Promise<void> {
  button.disabled = true;
  try {
    // `alarm:ack {alarmId, siteId}`: the hub checks role and site, appends alarm:update, every subscriber sees it.
    await client.acknowledgeAlarm(alarm.id, alarm.siteId);
  } catch (e) {
    button.disabled = false;
    status(`acknowledge failed: ${(e as Error).message}`);
  }
}

function applySnapshot(s: Snapshot): void {
  const site = sites.get(s.siteId);
  if (site === undefined || (site.snapshot !== undefined && site.snapshot.offset > s.offset)) return;
  site.snapshot = s;
  // The snapshot's open alarms are the truth up to its offset.
  for (const a of s.alarms.recent) alarms.set(a.id, { id: a.id, siteId: s.siteId, level: a.level, title: a.title ?? a.id, status: a.status, at: a.changedAt });
  for (const [id, a] of alarms) if (a.siteId === s.siteId && !s.alarms.recent.some((r) => r.id === id) && a.status !== 'open') alarms.delete(id);
  renderSite(s.siteId);
  renderAlarms();
}

function refetchInventory(id: string): void {
  const site = sites.get(id);
  if (site === undefined || site.refetch !== undefined) return;
  site.refetch = setTimeout(async () => {
    site.refetch = undefined;
    site.inventory = (await api<{ items: InventoryLine[] }>(`/api/sites/${id}/inventory`)).items;
    renderSite(id);
  }, 500);
}

async function addSite(id: string): Promise<void> {
  if (sites.has(id)) return;
  const card = el('section', { class: 'site', 'data-site': id });
  document.getElementById('sites')!.append(card);
  sites.set(id, { card });
  await client.subscribeSite(id);
  applySnapshot(await api<Snapshot>(`/api/sites/${id}/dashboard`));
  sites.get(id)!.inventory = (await api<{ items: InventoryLine[] }>(`/api/sites/${id}/inventory`)).items;
  renderSite(id);
}

function status(text: string): void {
  document.getElementById('status')!.textContent = text;
}

async function main(): Promise<void> {
  token = new URLSearchParams(location.hash.slice(1)).get('token') ?? (await (await fetch('/demo/token')).text());
  client = new HubClient({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, token });
  client.on('dashboard:update', (s: Snapshot) => applySnapshot(s));
  client.on('inventory:update', (_data, meta) => meta?.site !== undefined && refetchInventory(meta.site));
  client.on('alarm:new', (a) => {
    const siteId = String(a.siteId ?? a.site_id);
    alarms.set(String(a.id), { id: String(a.id), siteId, level: String(a.level ?? 'unknown'), title: String(a.title ?? a.message ?? a.id), status: 'open', at: new Date().toISOString() });
    renderAlarms();
  });
  client.on('alarm:update', (a) => {
    const known = alarms.get(String(a.id));
    if (known !== undefined && typeof a.status === 'string') {
      known.status = a.status === 'resolved' || a.status === 'closed' ? 'cleared' : a.status;
      renderAlarms();
    }
  });
  client.on('connected', () => status('connected'));
  client.on('disconnect', () => status('reconnecting…'));
  await client.connect();
  await client.subscribeAlarms();
  const poll = async () => {
    try {
      for (const id of (await api<{ sites: string[] }>('/api/sites')).sites) await addSite(id);
    } catch (e) {
      status(`views unavailable: ${(e as Error).message}`);
    }
  };
  await poll();
  setInterval(poll, 3000);
}

main().catch((e: Error) => status(`failed: ${e.message}`));
