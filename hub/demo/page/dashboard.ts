/**
 * The live plant dashboard, in the browser, on HubClient: production over the
 * day for every site (one chart), a card per site (figures, silo levels against
 * their minimum, trucks by state, deliveries, orders), and the alarm feed with
 * acknowledge buttons. Every piece of event data reaches the page as text
 * (text nodes, `textContent`, canvas text), never as HTML.
 *
 * State: each site's dashboard is the newest snapshot by `offset` (from
 * `GET /api/sites/:id/dashboard`, then `dashboard:update` pushes, a latest-value
 * class); inventory is refetched (throttled) on `inventory:update`; alarms apply
 * live and are reconciled by each snapshot's open-alarm list. The charts are
 * built once and updated in place. `<body data-charts="ready">` once every chart
 * has data (the screenshot test waits on it).
 */
import type { DashboardSnapshot, InventorySnapshot } from '../../../projections/index.ts';
import { HubClient } from '../../../protocol/index.ts';
import { AlarmFeed } from './alarm-feed.ts';
import type { Alarm } from './alarm-order.ts';
import { ProductionChart } from './production-chart.ts';
import { productionHistory } from './production-history.ts';
import { SiteCard } from './site-card.ts';

interface Site {
  readonly card: SiteCard;
  snapshot?: DashboardSnapshot;
  hasInventory: boolean;
  /** The production line's history is read (or could not be). */
  backfilled: boolean;
  refetch?: ReturnType<typeof setTimeout>;
}

const sites = new Map<string, Site>();
const byId = (id: string) => document.getElementById(id)!;
const production = new ProductionChart(byId('production-chart'), () => markReady());
const feed = new AlarmFeed(byId('alarms'), byId('alarm-summary'), acknowledge);
let token = '';
let client: HubClient;

async function api<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function acknowledge(alarm: Alarm): Promise<void> {
  try {
    // `alarm:ack {alarmId, siteId}`: the hub checks role and site, appends alarm:update, every subscriber sees it.
    await client.acknowledgeAlarm(alarm.id, alarm.siteId);
  } catch (e) {
    status(`acknowledge failed: ${(e as Error).message}`, 'error');
    throw e;
  }
}

function applySnapshot(s: DashboardSnapshot, ts: number): void {
  const site = sites.get(s.siteId);
  if (site === undefined || (site.snapshot !== undefined && site.snapshot.offset > s.offset)) return;
  site.snapshot = s;
  site.card.showSnapshot(s);
  production.record(s.siteId, s.day, s.production.volume, s.updatedAt === null ? ts : Date.parse(s.updatedAt));
  feed.reconcile(s);
  showTotals(s.day);
  markReady();
}

async function loadInventory(id: string): Promise<void> {
  const site = sites.get(id)!;
  site.card.showInventory((await api<InventorySnapshot>(`/api/sites/${id}/inventory`)).items);
  site.hasInventory = true;
  markReady();
}

function refetchInventory(id: string): void {
  const site = sites.get(id);
  if (site === undefined || site.refetch !== undefined) return;
  site.refetch = setTimeout(() => {
    site.refetch = undefined;
    loadInventory(id).catch((e: Error) => status(`inventory unavailable: ${e.message}`, 'error'));
  }, 500);
}

/** A card (and chart series) for each site listed, in id order, at once: the page is ready only when all are loaded. */
function addSites(ids: readonly string[]): Array<Promise<void>> {
  const fresh = ids.filter((id) => !sites.has(id)).sort(bySiteId);
  for (const id of fresh) {
    const card = new SiteCard(id, byId('sites'));
    const next = [...sites.keys()].sort(bySiteId).find((other) => bySiteId(other, id) > 0);
    if (next !== undefined) byId('sites').insertBefore(card.element, sites.get(next)!.card.element);
    sites.set(id, { card, hasInventory: false, backfilled: false });
    production.addSite(id);
  }
  return fresh.map(loadSite);
}

async function loadSite(id: string): Promise<void> {
  const site = sites.get(id)!;
  let snapshot: DashboardSnapshot;
  try {
    await client.subscribeSite(id);
    snapshot = await api<DashboardSnapshot>(`/api/sites/${id}/dashboard`);
  } catch (e) {
    // Forgotten, so the next poll tries the site again.
    site.card.element.remove();
    sites.delete(id);
    throw e;
  }
  applySnapshot(snapshot, Date.now());
  const history = productionHistory(snapshot, token)
    .then((points) => production.backfill(id, snapshot.day, points))
    .catch((e: Error) => status(`production history unavailable: ${e.message}`, 'error'))
    .finally(() => {
      site.backfilled = true;
      markReady();
    });
  await loadInventory(id);
  await history;
}

/** Site ids as numbers where they are numbers: 2 before 10. */
function bySiteId(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

function showTotals(day: string): void {
  byId('day').textContent = day;
  byId('total').textContent = `${production.total.toFixed(1)} m³ produced today`;
}

/** Every site has a snapshot, its inventory and its production history, and the production line has a segment. */
function markReady(): void {
  const ready = sites.size > 0 && [...sites.values()].every((s) => s.snapshot !== undefined && s.hasInventory && s.backfilled) && Number(byId('production-chart').dataset.points ?? 0) >= 2;
  if (ready) document.body.dataset.charts = 'ready';
}

function status(text: string, state: 'ok' | 'waiting' | 'error'): void {
  const e = byId('status');
  e.textContent = text;
  e.dataset.state = state;
}

async function main(): Promise<void> {
  token = new URLSearchParams(location.hash.slice(1)).get('token') ?? (await (await fetch('/demo/token')).text());
  client = new HubClient({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`, token });
  client.on('dashboard:update', (s: DashboardSnapshot, meta) => applySnapshot(s, meta?.ts ?? Date.now()));
  client.on('inventory:update', (_data, meta) => meta?.site !== undefined && refetchInventory(meta.site));
  client.on('alarm:new', (a, meta) => {
    const at = new Date(meta?.ts ?? Date.now()).toISOString();
    const offset = meta?.offset ?? 0;
    feed.raised({ id: String(a.id), siteId: String(a.siteId ?? a.site_id ?? meta?.site), level: String(a.level ?? 'unknown'), title: String(a.title ?? a.message ?? a.id), status: 'open', raisedOffset: offset, changedOffset: offset, at });
  });
  client.on('alarm:update', (a, meta) => {
    if (typeof a.status === 'string') feed.changed(String(a.id), a.status, new Date(meta?.ts ?? Date.now()).toISOString(), meta?.offset ?? 0);
  });
  client.on('connected', () => status('live', 'ok'));
  client.on('disconnect', () => status('reconnecting…', 'waiting'));
  await client.connect();
  await client.subscribeAlarms();
  const poll = async () => {
    try {
      await Promise.all(addSites((await api<{ sites: string[] }>('/api/sites')).sites));
      if (byId('status').dataset.state === 'error') status('live', 'ok');
    } catch (e) {
      status(`views unavailable: ${(e as Error).message}`, 'error');
    }
  };
  await poll();
  setInterval(poll, 3000);
}

main().catch((e: Error) => status(`failed: ${e.message}`, 'error'));
