/**
 * A simulated concrete plant: orders become production batches, batches draw
 * cement, sand, gravel and water from stock, trucks carry the loads out as
 * delivery tasks, suppliers restock, and now and then something raises an alarm.
 * Deterministic for a seed, so tests and benchmarks replay the same day.
 * Produces the seed's events (protocol/domain-events.ts), ready for `append`.
 */
import type { AppendRequest } from '../../protocol/event-append.ts';

export interface PlantOptions {
  readonly sites: readonly string[];
  readonly seed?: number;
  readonly trucksPerSite?: number;
  /**
   * Names this run in batch and alarm ids (`1-<run>-B7`). A demo restarted on the
   * same log needs it: the views count a batch or alarm id once, so ids of an
   * earlier run would make the new run's production and alarms invisible.
   */
  readonly run?: string;
}

export type PlantEvent = AppendRequest & { readonly siteId: string };

interface Material {
  readonly id: string;
  readonly name: string;
  readonly unit: string;
  readonly threshold: number;
  /** Drawn per m³ of concrete. */
  readonly perM3: number;
  readonly restock: number;
}

const MATERIALS: readonly Material[] = [
  { id: 'cement', name: 'Cement P.O 42.5', unit: 't', threshold: 40, perM3: 0.35, restock: 60 },
  { id: 'sand', name: 'Sand', unit: 't', threshold: 80, perM3: 0.75, restock: 120 },
  { id: 'gravel', name: 'Gravel 5-25mm', unit: 't', threshold: 100, perM3: 1.05, restock: 150 },
  { id: 'water', name: 'Water', unit: 'm3', threshold: 20, perM3: 0.18, restock: 40 },
];
const ALARM_LEVELS = ['low', 'medium', 'high', 'critical'] as const;
const ALARMS = ['Mixer 2 motor overload', 'Cement silo 1 high level', 'Aggregate belt misaligned', 'Scale drift on water meter', 'Truck {truck} overspeed', 'Batching PLC heartbeat lost'];
const TASK_FLOW = ['pending', 'loading', 'in_transit', 'unloading', 'returning', 'completed'] as const;

interface Site {
  readonly id: string;
  nextOrder: number;
  nextBatch: number;
  nextTask: number;
  nextAlarm: number;
  readonly openOrders: number[];
  readonly runningBatches: Array<{ id: string; order: number; volume: number }>;
  readonly tasks: Map<string, { step: number; truck: string }>;
  readonly idleTrucks: string[];
  readonly stock: Map<string, number>;
  readonly openAlarms: Array<{ id: string; acked: boolean }>;
}

export class PlantModel {
  readonly #sites: Site[];
  readonly #tag: string;
  #rand: () => number;
  #queue: PlantEvent[] = [];

  constructor(options: PlantOptions) {
    this.#rand = mulberry32(options.seed ?? 1);
    this.#tag = options.run === undefined ? '' : `${options.run}-`;
    const trucks = options.trucksPerSite ?? 6;
    this.#sites = options.sites.map((id) => ({
      id,
      nextOrder: 1,
      nextBatch: 1,
      nextTask: 1,
      nextAlarm: 1,
      openOrders: [],
      runningBatches: [],
      tasks: new Map(),
      idleTrucks: Array.from({ length: trucks }, (_, i) => `${id}-T${i + 1}`),
      stock: new Map(),
      openAlarms: [],
    }));
    // Opening stock and a fleet standing in the yard.
    for (const site of this.#sites) {
      for (const m of MATERIALS) this.#stock(site, 'stock_in', m, m.restock * 2);
      for (const truck of site.idleTrucks) this.#queue.push({ event: 'vehicle:update', siteId: site.id, data: { id: truck, plate: `沪A·${truck.slice(-2)}`, status: 'idle' } });
    }
  }

  /** The plant's next event. */
  next(): PlantEvent {
    while (this.#queue.length === 0) this.#step();
    return this.#queue.shift()!;
  }

  /** The next `n` events. */
  take(n: number): PlantEvent[] {
    return Array.from({ length: n }, () => this.next());
  }

  #step(): void {
    const site = this.#sites[Math.floor(this.#rand() * this.#sites.length)]!;
    const r = this.#rand();
    if (r < 0.12) this.#newOrder(site);
    else if (r < 0.3) this.#startBatch(site);
    else if (r < 0.46) this.#completeBatch(site);
    else if (r < 0.7) this.#advanceTask(site);
    else if (r < 0.82) this.#truckPosition(site);
    else if (r < 0.9) this.#restock(site);
    else if (r < 0.93) this.#adjust(site);
    else this.#alarm(site);
  }

  #newOrder(site: Site): void {
    const id = site.nextOrder++;
    site.openOrders.push(id);
    this.#queue.push({ event: 'order:update', siteId: site.id, data: { id, status: 'confirmed', customer: `Customer ${1 + (id % 17)}`, grade: 'C30', volume: 8 + Math.floor(this.#rand() * 40) } });
  }

  #startBatch(site: Site): void {
    const order = site.openOrders[Math.floor(this.#rand() * site.openOrders.length)];
    if (order === undefined) return this.#newOrder(site);
    const batch = { id: `${site.id}-${this.#tag}B${site.nextBatch++}`, order, volume: 6 + Math.floor(this.#rand() * 7) };
    site.runningBatches.push(batch);
    this.#queue.push({ event: 'production:update', siteId: site.id, data: { type: 'batch_started', batch: { id: batch.id, orderId: order, volume: batch.volume, grade: 'C30', line: 1 + (site.nextBatch % 2) } } });
    this.#queue.push({ event: 'order:update', siteId: site.id, data: { id: order, status: 'in_production' } });
  }

  #completeBatch(site: Site): void {
    const batch = site.runningBatches.shift();
    if (batch === undefined) return this.#startBatch(site);
    const volume = Math.round((batch.volume - this.#rand() * 0.4) * 100) / 100;
    this.#queue.push({ event: 'production:update', siteId: site.id, data: { type: 'batch_completed', batch: { id: batch.id, orderId: batch.order, volume } } });
    for (const m of MATERIALS) this.#stock(site, 'stock_out', m, Math.round(volume * m.perM3 * 1000) / 1000);
    const truck = site.idleTrucks.shift();
    if (truck !== undefined) {
      const task = `${site.id}-D${site.nextTask++}`;
      site.tasks.set(task, { step: 0, truck });
      this.#queue.push({ event: 'task:update', siteId: site.id, data: { id: task, status: TASK_FLOW[0], orderId: batch.order, batchId: batch.id, vehicle: { id: truck } } });
      this.#queue.push({ event: 'vehicle:update', siteId: site.id, data: { id: truck, status: 'loading' } });
    }
    if (this.#rand() < 0.3) {
      const i = site.openOrders.indexOf(batch.order);
      if (i >= 0) site.openOrders.splice(i, 1);
      this.#queue.push({ event: 'order:update', siteId: site.id, data: { id: batch.order, status: 'completed' } });
    }
  }

  #advanceTask(site: Site): void {
    const ids = [...site.tasks.keys()];
    const id = ids[Math.floor(this.#rand() * ids.length)];
    if (id === undefined) return this.#completeBatch(site);
    const task = site.tasks.get(id)!;
    task.step++;
    const status = TASK_FLOW[task.step]!;
    this.#queue.push({ event: 'task:update', siteId: site.id, data: { id, status, vehicle: { id: task.truck } } });
    const vehicleStatus = status === 'completed' ? 'idle' : status === 'returning' ? 'returning' : status === 'loading' ? 'loading' : 'delivering';
    this.#queue.push({ event: 'vehicle:update', siteId: site.id, data: { id: task.truck, status: vehicleStatus } });
    if (status === 'completed') {
      site.tasks.delete(id);
      site.idleTrucks.push(task.truck);
    }
  }

  #truckPosition(site: Site): void {
    const trucks = [...site.tasks.values()].map((t) => t.truck);
    const truck = trucks[Math.floor(this.#rand() * trucks.length)] ?? site.idleTrucks[0];
    if (truck === undefined) return;
    // Position only, no status: latest-value traffic the dashboard passes over.
    this.#queue.push({ event: 'vehicle:update', siteId: site.id, data: { id: truck, position: { lat: 31.2 + this.#rand() / 10, lng: 121.4 + this.#rand() / 10 }, speed: Math.round(this.#rand() * 60) } });
  }

  #restock(site: Site): void {
    // Restock what is lowest, as a purchaser would.
    const m = [...MATERIALS].sort((a, b) => (site.stock.get(a.id) ?? 0) / a.threshold - (site.stock.get(b.id) ?? 0) / b.threshold)[0]!;
    this.#stock(site, 'stock_in', m, m.restock);
  }

  #adjust(site: Site): void {
    const m = MATERIALS[Math.floor(this.#rand() * MATERIALS.length)]!;
    this.#stock(site, 'adjustment', m, Math.round((this.#rand() - 0.6) * 5 * 1000) / 1000);
  }

  #alarm(site: Site): void {
    const open = site.openAlarms;
    const r = this.#rand();
    if (open.length > 0 && r < 0.5) {
      const i = Math.floor(this.#rand() * open.length);
      const alarm = open[i]!;
      if (!alarm.acked) {
        alarm.acked = true;
        this.#queue.push({ event: 'alarm:update', siteId: site.id, data: { id: alarm.id, siteId: site.id, status: 'acknowledged', acknowledgedBy: 'operator' } });
      } else {
        open.splice(i, 1);
        this.#queue.push({ event: 'alarm:update', siteId: site.id, data: { id: alarm.id, siteId: site.id, status: 'cleared' } });
      }
      return;
    }
    const id = `${site.id}-${this.#tag}A${site.nextAlarm++}`;
    const level = ALARM_LEVELS[Math.floor(this.#rand() * ALARM_LEVELS.length)]!;
    const title = ALARMS[Math.floor(this.#rand() * ALARMS.length)]!.replace('{truck}', site.idleTrucks[0] ?? 'T1');
    open.push({ id, acked: false });
    this.#queue.push({ event: 'alarm:new', siteId: site.id, data: { id, siteId: site.id, level, title, message: `${title} at site ${site.id}` } });
  }

  #stock(site: Site, type: 'stock_in' | 'stock_out' | 'adjustment', m: Material, quantity: number): void {
    site.stock.set(m.id, (site.stock.get(m.id) ?? 0) + (type === 'stock_out' ? -quantity : quantity));
    this.#queue.push({ event: 'inventory:update', siteId: site.id, data: { type, material: { id: m.id, name: m.name, unit: m.unit, threshold: m.threshold }, quantity } });
  }
}

/** A small, fast, seedable PRNG (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
