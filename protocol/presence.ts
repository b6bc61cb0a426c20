/**
 * Online counts as the hubs report them (`GET /api/stats/online`,
 * HubPublisher.getOnlineStats). How hubs share presence is theirs to decide
 * (hub/presence-tracker.ts: per-hub shards and heartbeats in a KV bucket).
 */

/**
 * One hub's view: connections per user, and per site the connections per user subscribed to it.
 * @deprecated Hubs no longer write one entry per hub (it passed NATS's 1 MB message limit at ~33,000
 * users); kept, with `mergePresence`, for code that merges such entries itself.
 */
export interface HubPresence {
  readonly hubId: string;
  /** Milliseconds since the Unix epoch when written. */
  readonly at: number;
  readonly users: Readonly<Record<string, number>>;
  readonly sites: Readonly<Record<string, Readonly<Record<string, number>>>>;
}

export interface OnlineCounts {
  readonly users: number;
  readonly connections: number;
}

export interface OnlineStats extends OnlineCounts {
  readonly hubs: number;
  readonly sites: Readonly<Record<string, OnlineCounts>>;
}

/** Cluster-wide counts from per-hub views; a user in several views counts once. */
export function mergePresence(entries: readonly HubPresence[]): OnlineStats {
  const users = new Set<string>();
  let connections = 0;
  const siteUsers = new Map<string, Set<string>>();
  const siteConnections = new Map<string, number>();
  for (const e of entries) {
    for (const [user, n] of Object.entries(e.users)) {
      users.add(user);
      connections += n;
    }
    for (const [site, perUser] of Object.entries(e.sites)) {
      let set = siteUsers.get(site);
      if (set === undefined) siteUsers.set(site, (set = new Set()));
      for (const [user, n] of Object.entries(perUser)) {
        set.add(user);
        siteConnections.set(site, (siteConnections.get(site) ?? 0) + n);
      }
    }
  }
  const sites: Record<string, OnlineCounts> = {};
  for (const [site, set] of siteUsers) sites[site] = { users: set.size, connections: siteConnections.get(site) ?? 0 };
  return { users: users.size, connections, hubs: entries.length, sites };
}
