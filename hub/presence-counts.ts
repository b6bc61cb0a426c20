/**
 * Cluster-wide online counts kept up to date by deltas: every other live hub's
 * record of a user is added once and removed once, and this hub's own users
 * move the counts as they change, so a count is read in O(sites) however many
 * users there are. A user on two hubs has two records and is counted once.
 *
 * This hub's users are not copied in: their records are read where they are
 * kept (`LocalRecords`, the hub's shards). A count is the size of the union of
 * this hub's users and the others', so a change on one side moves it only when
 * the user is not on the other: a map entry per local user and site less (the
 * counts held ~80 bytes of every connection).
 */
import type { OnlineStats, OnlineCounts } from '../protocol/presence.ts';
import type { StoredRecord } from './presence-entry.ts';

/** This hub's records of its users, `[connections, site, count, …]`, as the shards hold them. */
export interface LocalRecords {
  get(user: string): StoredRecord | undefined;
}

interface SiteCounts {
  /** The other hubs' records per user subscribed to the site; made when the first comes. */
  remote: Map<string, number> | undefined;
  /** Unique users: this hub's on the site, and the other hubs' that are not. */
  users: number;
  connections: number;
}

const NO_LOCAL: LocalRecords = { get: () => undefined };

export class PresenceCounts {
  readonly #local: LocalRecords;
  /** The other hubs' records with a connection, per user. */
  readonly #remote = new Map<string, number>();
  /** Unique online users: this hub's, and the other hubs' that are not online here. */
  #users = 0;
  readonly #sites = new Map<string, SiteCounts>();
  #connections = 0;

  /** `local`: this hub's users (none: every record comes through `add`). */
  constructor(local: LocalRecords = NO_LOCAL) {
    this.#local = local;
  }

  /** Adds another hub's record of a user: `[connections, site, count, site, count, …]` as a shard stores it. */
  add(user: string, r: StoredRecord): void {
    const connections = r[0] as number;
    // Online means connected: a record left with sites but no connection counts for its sites only.
    if (connections > 0) this.#remoteUser(user, 1);
    this.#connections += connections;
    for (let k = 1; k < r.length; k += 2) this.#remoteSite(r[k] as string, user, 1, r[k + 1] as number);
  }

  /** Takes away a record added before (the caller keeps what it added). */
  remove(user: string, r: StoredRecord): void {
    const connections = r[0] as number;
    if (connections > 0) this.#remoteUser(user, -1);
    this.#connections -= connections;
    for (let k = 1; k < r.length; k += 2) this.#remoteSite(r[k] as string, user, -1, -(r[k + 1] as number));
  }

  /** A change of this hub's user, `online`: +1 when it gained its first connection here, -1 when it lost its last. */
  localUser(user: string, online: number, connections: number): void {
    if (online !== 0 && !this.#remote.has(user)) this.#users += online;
    this.#connections += connections;
  }

  /** A change of this hub's user on a site, `joined`: +1 when its first connection here joined it, -1 when its last left. */
  localSite(site: string, user: string, joined: number, connections: number): void {
    const s = this.#site(site);
    if (joined !== 0 && s.remote?.has(user) !== true) s.users += joined;
    s.connections += connections;
    if (s.users === 0) this.#sites.delete(site);
  }

  get users(): number {
    return this.#users;
  }

  /** Unique users subscribed to one site. */
  siteUsers(site: string): number {
    return this.#sites.get(site)?.users ?? 0;
  }

  /** `stats` with only the sites named (those with no one online left out). */
  statsOf(siteIds: readonly string[], hubs: number): OnlineStats {
    const sites: Record<string, OnlineCounts> = {};
    for (const site of siteIds) {
      const s = this.#sites.get(site);
      if (s !== undefined) sites[site] = { users: s.users, connections: s.connections };
    }
    return { users: this.#users, connections: this.#connections, hubs, sites };
  }

  stats(hubs: number): OnlineStats {
    const sites: Record<string, OnlineCounts> = {};
    for (const [site, s] of this.#sites) sites[site] = { users: s.users, connections: s.connections };
    return { users: this.#users, connections: this.#connections, hubs, sites };
  }

  /** `records`: +1 when another hub's record of the user gained its first connection, -1 when it lost its last. */
  #remoteUser(user: string, records: number): void {
    if (bump(this.#remote, user, records) && !online(this.#local.get(user))) this.#users += records;
  }

  /** `records`: +1 when another hub's record of the user joined the site, -1 when it left it. */
  #remoteSite(site: string, user: string, records: number, connections: number): void {
    const s = this.#site(site);
    const remote = (s.remote ??= new Map());
    if (bump(remote, user, records) && !onSite(this.#local.get(user), site)) s.users += records;
    if (remote.size === 0) s.remote = undefined;
    s.connections += connections;
    if (s.users === 0) this.#sites.delete(site);
  }

  #site(site: string): SiteCounts {
    let s = this.#sites.get(site);
    if (s === undefined) this.#sites.set(site, (s = { remote: undefined, users: 0, connections: 0 }));
    return s;
  }
}

/** Moves a count; true when the key came in (0 → some) or went out (some → 0). */
function bump(map: Map<string, number>, key: string, delta: number): boolean {
  const was = map.get(key) ?? 0;
  const n = was + delta;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
  return (was > 0) !== (n > 0);
}

function online(r: StoredRecord | undefined): boolean {
  return r !== undefined && (r[0] as number) > 0;
}

function onSite(r: StoredRecord | undefined, site: string): boolean {
  if (r === undefined) return false;
  for (let k = 1; k < r.length; k += 2) if (r[k] === site) return true;
  return false;
}
