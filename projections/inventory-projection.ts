/**
 * The inventory view per site and material: quantity on hand, unit, low-stock
 * threshold and flag, last movement. A material crossing below its threshold
 * raises one low-stock alarm per crossing (`alarm:new`, deterministic id and
 * msg id from the crossing's offset); climbing back clears it (`alarm:update`).
 */
import { createHash } from 'node:crypto';
import { decodeFoldPayload } from './payload-decoder.ts';
import { type DomainEvent, parseDomainEvent } from '../protocol/domain-events.ts';
import type { FoldMemory } from './fold-memory.ts';
import type { LogEvent } from './log-event.ts';
import type { FoldContext, Projection } from './projection.ts';
import type { InventoryItem } from './tables.ts';
import { selectByKeys } from './upsert.ts';

type StockMovement = Extract<DomainEvent, { type: 'stock_in' | 'stock_out' | 'adjustment' }>;

/** Level of the alarms this projection raises. */
export const LOW_STOCK_LEVEL = 'warning';
const MAX_ALARM_ID = 128;

export class InventoryProjection implements Projection {
  readonly name = 'inventory';
  readonly tables = ['inventory_items'] as const;

  filter(ns: string): string {
    return `${ns}.site.*.inventory.>`;
  }

  async fold(ctx: FoldContext): Promise<void> {
    const moves: Array<{ event: LogEvent; move: StockMovement }> = [];
    for (const event of ctx.events) {
      if (event.name !== 'inventory:update') continue;
      let domain: DomainEvent | undefined;
      try {
        domain = parseDomainEvent(event.name, decodeFoldPayload(event.payload));
      } catch (e) {
        ctx.reject(event, e as Error);
        continue;
      }
      if (domain !== undefined && (domain.type === 'stock_in' || domain.type === 'stock_out' || domain.type === 'adjustment')) moves.push({ event, move: domain });
    }
    if (moves.length === 0) return;

    // In a rebuild, the fold holds every row it wrote (see FoldMemory): nothing to load.
    let items = ctx.memory?.get<Map<string, InventoryItem>>(this.name);
    if (items === undefined) {
      items = new Map<string, InventoryItem>();
      if (ctx.memory === undefined) {
        const keys = new Map<string, readonly [string, string]>();
        for (const { event, move } of moves) keys.set(itemKey(event.siteId, move.material.id), [event.siteId, move.material.id]);
        for (const row of await selectByKeys(ctx.views, 'inventory_items', ['site_id', 'material_id'], [...keys.values()])) items.set(itemKey(row.site_id, row.material_id), row);
      } else ctx.memory.set(this.name, items);
    }
    const changed = new Set<string>();
    for (const { event, move } of moves) {
      const key = itemKey(event.siteId, move.material.id);
      items.set(key, applyMovement(ctx, event, move, items.get(key)));
      changed.add(key);
    }
    // A rebuild deferring its writes writes every held row once, at the end (writeHeld).
    if (ctx.memory?.defersWrites !== true) ctx.write('inventory_items', [...changed].map((k) => items.get(k)!), ['site_id', 'material_id']);
    ctx.memory?.holds(items.size);
    for (const site of new Set(moves.map((m) => m.event.siteId))) ctx.touched(site);
  }

  writeHeld(memory: FoldMemory, write: FoldContext['write']): void {
    const items = memory.get<Map<string, InventoryItem>>(this.name);
    if (items !== undefined) write('inventory_items', [...items.values()], ['site_id', 'material_id']);
  }
}

/** One stock movement applied to a material's row; raises or clears the low-stock alarm on a crossing. */
function applyMovement(ctx: FoldContext, event: LogEvent, move: StockMovement, cur: InventoryItem | undefined): InventoryItem {
  const { material, quantity } = move;
  const onHand = (cur?.on_hand ?? 0) + (move.type === 'stock_out' ? -quantity : quantity);
  const threshold = material.threshold ?? cur?.threshold ?? null;
  const low = threshold !== null && onHand < threshold;
  const name = material.name ?? cur?.name ?? null;
  const unit = material.unit ?? cur?.unit ?? null;
  let lowAlarmId = cur?.low_alarm_id ?? null;
  const wasLow = cur?.low ?? false;
  if (low && !wasLow) {
    // The crossing's offset names the alarm: the same crossing replayed yields the same id.
    lowAlarmId = alarmId(`low-stock:${event.siteId}:${material.id}:${event.seq}`);
    ctx.append(lowAlarmId, {
      event: 'alarm:new',
      siteId: event.siteId,
      data: {
        id: lowAlarmId,
        siteId: event.siteId,
        type: 'low_stock',
        level: LOW_STOCK_LEVEL,
        title: `Low stock: ${name ?? material.id}`,
        message: `${name ?? material.id} is at ${round(onHand)}${unit === null ? '' : ` ${unit}`}, below its threshold of ${threshold}`,
        materialId: material.id,
        onHand,
        threshold,
        unit,
        offset: event.seq,
      },
    });
  } else if (!low && wasLow && lowAlarmId !== null) {
    ctx.append(`${lowAlarmId}:cleared`, {
      event: 'alarm:update',
      siteId: event.siteId,
      data: { id: lowAlarmId, siteId: event.siteId, type: 'low_stock', status: 'cleared', level: LOW_STOCK_LEVEL, materialId: material.id, onHand, threshold, unit, offset: event.seq },
    });
    lowAlarmId = null;
  }
  return {
    site_id: event.siteId,
    material_id: material.id,
    name,
    unit,
    on_hand: onHand,
    threshold,
    low,
    low_alarm_id: lowAlarmId,
    last_movement: move.type,
    last_quantity: quantity,
    last_movement_at: new Date(event.ts),
    last_seq: event.seq,
  };
}

function itemKey(site: string, material: string): string {
  return `${site}\0${material}`;
}

/** Alarm ids are at most 128 characters: long site and material ids are hashed. */
function alarmId(id: string): string {
  return id.length <= MAX_ALARM_ID ? id : `low-stock:${createHash('sha256').update(id).digest('base64url')}`;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
