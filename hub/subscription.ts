/**
 * What a session can subscribe to, and what follows from each: the log and
 * subject filter a resume replays, which events belong to it, and where live
 * events reach it (uWS topics for every class; the critical ones also carry the
 * acks' shared record, see critical-topic.ts).
 */
import { type StreamKey, topics } from '../protocol/subjects.ts';
import { type Grant, grantsSite } from './grant.ts';
import type { LiveEvent } from './live-event.ts';

export type SubscriptionKey = `site:${string}` | 'alarms' | 'user' | 'global';

export interface Subscription {
  readonly key: SubscriptionKey;
  readonly stream: StreamKey;
  /** NATS subject filter for replay (one filter subject: nats-server 2.9). */
  filter(ns: string): string;
  /** Whether a replayed event is delivered to this subscription. */
  matches(event: LiveEvent, grant: Grant): boolean;
  /** uWS topics carrying its normal and latest-value traffic. */
  readonly topics: readonly string[];
  /** uWS topics carrying its critical traffic (a session is on the union of its live subscriptions', `alarm/*` replacing per-site alarm topics). */
  criticalKeys(grant: Grant): readonly string[];
}

export function siteSubscription(siteId: string): Subscription {
  return {
    key: `site:${siteId}`,
    stream: 'site',
    filter: (ns) => `${ns}.site.${siteId}.>`,
    matches: (e) => e.owner === siteId,
    topics: [topics.siteData(siteId), topics.siteLatest(siteId)],
    criticalKeys: () => [topics.siteAlarms(siteId)],
  };
}

/** Alarms of every site the token grants. */
export const alarmsSubscription: Subscription = {
  key: 'alarms',
  stream: 'site',
  filter: (ns) => `${ns}.site.*.alarm.>`,
  matches: (e, grant) => e.isAlarm && grantsSite(grant, e.owner),
  topics: [],
  criticalKeys: (grant) => (grant.sites === '*' ? [topics.allAlarms] : [...grant.sites].map(topics.siteAlarms)),
};

/** `userKey` is the grant's subject-safe key (`userToken`), never the id as the token spelled it. */
export function userSubscription(userKey: string): Subscription {
  return {
    key: 'user',
    stream: 'user',
    filter: (ns) => `${ns}.user.${userKey}.>`,
    matches: (e) => e.owner === userKey,
    topics: [],
    criticalKeys: () => [topics.user(userKey)],
  };
}

/** System messages: every session has it from the start. */
export const systemSubscription: Subscription = {
  key: 'global',
  stream: 'global',
  filter: (ns) => `${ns}.global.>`,
  matches: (e) => e.spec.tail === 'system',
  topics: [],
  criticalKeys: () => [topics.globalSystem],
};

/** System messages and broadcast notifications: replaces systemSubscription on `subscribe:notifications`. */
export const globalSubscription: Subscription = {
  key: 'global',
  stream: 'global',
  filter: (ns) => `${ns}.global.>`,
  matches: () => true,
  topics: [],
  criticalKeys: () => [topics.globalSystem, topics.globalNotifications],
};
