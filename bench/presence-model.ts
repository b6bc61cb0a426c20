/**
 * The presence bench's reference: what every hub must report (distinct users,
 * connections, per site), kept beside the simulated hubs as the bench feeds them.
 */
import type { OnlineStats } from '../protocol/presence.ts';
import type { SimulatedHub } from './presence-sim.ts';

/** What every hub must report: distinct users, connections, and per site, kept as the simulation goes. */
export class PresenceModel {
  readonly #users = new Map<string, number>();
  readonly #sites = new Map<string, { users: Map<string, number>; connections: number }>();
  #connections = 0;
  readonly perHub: Array<Map<string, { c: number; sites: Map<string, number> }>>;

  constructor(hubs: number) {
    this.perHub = Array.from({ length: hubs }, () => new Map());
  }

  connect(hub: SimulatedHub, h: number, user: string, sites: readonly string[]): void {
    hub.tracker.connected(user);
    for (const s of sites) hub.tracker.joinedSite(s, user);
    const mine = this.perHub[h]!.get(user) ?? { c: 0, sites: new Map<string, number>() };
    if (mine.c === 0) bump(this.#users, user, 1);
    mine.c++;
    this.#connections++;
    for (const s of sites) {
      if ((mine.sites.get(s) ?? 0) === 0) bump(this.#site(s).users, user, 1);
      bump(mine.sites, s, 1);
      this.#site(s).connections++;
    }
    this.perHub[h]!.set(user, mine);
  }

  disconnect(hub: SimulatedHub, h: number, user: string, sites: readonly string[]): void {
    for (const s of sites) hub.tracker.leftSite(s, user);
    hub.tracker.disconnected(user);
    const mine = this.perHub[h]!.get(user)!;
    for (const s of sites) {
      bump(mine.sites, s, -1);
      if ((mine.sites.get(s) ?? 0) === 0) bump(this.#site(s).users, user, -1);
      const site = this.#site(s);
      site.connections--;
      if (site.users.size === 0) this.#sites.delete(s);
    }
    mine.c--;
    this.#connections--;
    if (mine.c === 0) {
      bump(this.#users, user, -1);
      this.perHub[h]!.delete(user);
    }
  }

  /** Forgets a hub (it crashed): what the others must count without it. */
  dropHub(h: number): void {
    for (const [user, mine] of this.perHub[h]!) {
      bump(this.#users, user, -1);
      this.#connections -= mine.c;
      for (const [s, n] of mine.sites) {
        const site = this.#site(s);
        bump(site.users, user, -1);
        site.connections -= n;
        if (site.users.size === 0) this.#sites.delete(s);
      }
    }
    this.perHub[h]!.clear();
  }

  expected(hubs: number): OnlineStats {
    const sites: Record<string, { users: number; connections: number }> = {};
    for (const [s, v] of this.#sites) sites[s] = { users: v.users.size, connections: v.connections };
    return { users: this.#users.size, connections: this.#connections, hubs, sites };
  }

  #site(s: string) {
    let site = this.#sites.get(s);
    if (site === undefined) this.#sites.set(s, (site = { users: new Map(), connections: 0 }));
    return site;
  }
}

function bump(map: Map<string, number>, key: string, delta: number): void {
  const n = (map.get(key) ?? 0) + delta;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
