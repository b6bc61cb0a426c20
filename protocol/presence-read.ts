/**
 * Cluster-wide online counts for processes that are not hubs (HubPublisher,
 * WebSocketService): one core NATS request, answered by one hub (queue group)
 * from the counts it keeps by deltas, so the answer is as fresh as the hubs'
 * watch (~0.2 s) and its size grows with the number of sites, not of users.
 * Not part of the browser entry.
 */
import { type NatsConnection, RequestError } from '@nats-io/nats-core';
import type { OnlineStats } from './presence.ts';
import { presenceStatsSubject } from './subjects.ts';

/** No hub answering means no hub running: no one is online. */
const NO_HUB: OnlineStats = Object.freeze({ users: 0, connections: 0, hubs: 0, sites: Object.freeze({}) });

/** `sites`: only these sites in `sites` (the totals are always there); all of them when absent. */
export async function requestOnlineStats(nc: NatsConnection, ns: string, timeoutMs: number, sites?: readonly string[]): Promise<OnlineStats> {
  let reply: OnlineStats | { error: string };
  try {
    reply = (await nc.request(presenceStatsSubject(ns), sites === undefined ? undefined : JSON.stringify({ sites }), { timeout: timeoutMs })).json();
  } catch (e) {
    if (e instanceof RequestError && e.isNoResponders()) return NO_HUB;
    throw e;
  }
  if ('error' in reply) throw new Error(`online stats: ${reply.error}`);
  return reply;
}
