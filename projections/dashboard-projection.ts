/**
 * The dashboard view per site: today's production (batches and volume by status),
 * tasks, vehicles and orders by status, open and unacknowledged alarms by level,
 * and the alarm feed. Reads the whole site log (one filter subject on nats-server
 * 2.9), so its checkpoint is a position in the site stream: the offset a snapshot
 * reflects.
 */
import { decodeFoldPayload } from './payload-decoder.ts';
import { type DomainEvent, parseDomainEvent } from '../protocol/domain-events.ts';
import { type CountRow, DashboardFold, entityKey, Kind, type ProductionRow, countKey, productionKey } from './dashboard-fold.ts';
import type { FoldMemory } from './fold-memory.ts';
import type { LogEvent } from './log-event.ts';
import type { FoldContext, Projection } from './projection.ts';
import { selectByKeys } from './upsert.ts';

/** Site events the dashboard folds; the rest (inventory, its own pushes) are passed over undecoded. */
const FOLDED: ReadonlySet<string> = new Set(['production:update', 'task:update', 'order:update', 'vehicle:update', 'alarm:new', 'alarm:update']);

export class DashboardProjection implements Projection {
  readonly name = 'dashboard';
  readonly tables = ['dashboard_entities', 'dashboard_counts', 'dashboard_production', 'dashboard_sites'] as const;

  filter(ns: string): string {
    return `${ns}.site.>`;
  }

  async fold(ctx: FoldContext): Promise<void> {
    // In a rebuild, the fold holds every row it wrote: nothing to load, so each event is
    // applied as soon as it is parsed (nothing per event outlives its turn).
    const held = ctx.memory?.get<DashboardFold>(this.name);
    const fold = held ?? new DashboardFold();
    const parsed: Array<{ event: LogEvent; domain: DomainEvent }> = [];
    fold.tracksChanges = ctx.memory?.defersWrites !== true;
    fold.startBatch();
    for (const event of ctx.events) {
      if (event.name === undefined || !FOLDED.has(event.name)) continue;
      let domain: DomainEvent | undefined;
      try {
        domain = parseDomainEvent(event.name, decodeFoldPayload(event.payload));
      } catch (e) {
        ctx.reject(event, e as Error);
        continue;
      }
      if (domain === undefined) continue;
      if (held !== undefined) fold.apply(event, domain, ctx.dayOf);
      else parsed.push({ event, domain });
    }
    if (held === undefined) {
      if (parsed.length === 0) return;
      if (ctx.memory === undefined) await this.#load(ctx, fold, parsed);
      else ctx.memory.set(this.name, fold);
      for (const { event, domain } of parsed) fold.apply(event, domain, ctx.dayOf);
    }
    ctx.memory?.holds(fold.rows);
    // A rebuild deferring its writes writes every held row once, at the end (writeHeld).
    if (ctx.memory?.defersWrites !== true) this.#save(ctx, fold);
    for (const site of fold.changedSites) ctx.touched(site);
  }

  writeHeld(memory: FoldMemory, write: FoldContext['write']): void {
    const fold = memory.get<DashboardFold>(this.name);
    if (fold === undefined) return;
    write('dashboard_entities', [...fold.entities.values()], ['site_id', 'kind', 'entity_id']);
    write('dashboard_counts', [...fold.counts.values()], ['site_id', 'kind', 'status']);
    write('dashboard_production', [...fold.production.values()], ['site_id', 'day', 'status']);
    write('dashboard_sites', [...fold.sites.values()], ['site_id']);
  }

  /** Loads every row the batch can touch, so the fold sees absent rows as truly absent. */
  async #load(ctx: FoldContext, fold: DashboardFold, parsed: ReadonlyArray<{ event: LogEvent; domain: DomainEvent }>): Promise<void> {
    const entityKeys = new Map<string, readonly [string, string, string]>();
    const sites = new Set<string>();
    const days = new Map<string, readonly [string, string]>();
    for (const { event, domain } of parsed) {
      const site = event.siteId;
      sites.add(site);
      const key = entityOf(site, domain);
      if (key !== undefined) entityKeys.set(entityKey(...key), key);
      if (domain.type === 'batch_started' || domain.type === 'batch_completed') {
        const day = ctx.dayOf(event.ts);
        days.set(`${site}\0${day}`, [site, day]);
      }
    }
    for (const row of await selectByKeys(ctx.views, 'dashboard_entities', ['site_id', 'kind', 'entity_id'], [...entityKeys.values()])) {
      fold.entities.set(entityKey(row.site_id, row.kind, row.entity_id), row);
      // A completed batch moves out of the day it started in: load that day too.
      if (row.kind === Kind.batch && row.day !== null) days.set(`${row.site_id}\0${row.day}`, [row.site_id, row.day]);
    }
    for (const row of await selectByKeys(ctx.views, 'dashboard_counts', ['site_id'], [...sites].map((s) => [s]))) fold.counts.set(countKey(row.site_id, row.kind, row.status), row);
    for (const row of await selectByKeys(ctx.views, 'dashboard_production', ['site_id', 'day'], [...days.values()])) fold.production.set(productionKey(row.site_id, row.day, row.status), row);
  }

  #save(ctx: FoldContext, fold: DashboardFold): void {
    const pick = <T>(map: ReadonlyMap<string, T>, keys: ReadonlySet<string>): T[] => [...keys].map((k) => map.get(k)!);
    ctx.write('dashboard_entities', pick(fold.entities, fold.changedEntities), ['site_id', 'kind', 'entity_id']);
    ctx.write('dashboard_counts', pick<CountRow>(fold.counts, fold.changedCounts), ['site_id', 'kind', 'status']);
    ctx.write('dashboard_production', pick<ProductionRow>(fold.production, fold.changedProduction), ['site_id', 'day', 'status']);
    ctx.write('dashboard_sites', pick(fold.sites, fold.changedSites), ['site_id']);
  }
}

function entityOf(site: string, domain: DomainEvent): readonly [string, string, string] | undefined {
  switch (domain.type) {
    case 'status_changed':
      return [site, domain.entity, domain.id];
    case 'batch_started':
    case 'batch_completed':
      return [site, Kind.batch, domain.batchId];
    case 'alarm_raised':
    case 'alarm_acknowledged':
    case 'alarm_cleared':
      return [site, Kind.alarm, domain.id];
    default:
      return undefined;
  }
}
