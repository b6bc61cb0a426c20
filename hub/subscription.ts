/**
 * What a session can subscribe to, and what follows from each: the log and
 * subject filter a resume replays, which events belong to it, and where live
 * events reach it (uWS topics for every class; the critical ones also carry the
 * acks' shared record, see critical-topic.ts).
 *
 * Subscriptions are immutable, so sessions share them: one per site (cached),
 * one per kind otherwise. Small classes, not object literals of closures: a
 * closure per method per subscription cost ~1 KB of every idle connection.
 */
import { type StreamKey, topics } from '../protocol/subjects.ts';
import { type Grant, grantsSite } from './grant.ts';
import type { LiveEvent } from './live-event.ts';

export type SubscriptionKey = `site:${string}` | 'alarms' | 'user' | 'global';

export interface Subscription {
  readonly key: SubscriptionKey;
  readonly stream: StreamKey;
  /** One object serves every session that subscribes to it: their live states of it may be shared (see subscription-states.ts). */
  readonly shared: boolean;
  /** NATS subject filter for replay (one filter subject: nats-server 2.9). */
  filter(ns: string): string;
  /** Whether a replayed event is delivered to this subscription. */
  matches(event: LiveEvent, grant: Grant): boolean;
  /** uWS topics carrying its normal and latest-value traffic. */
  readonly topics: readonly string[];
  /** uWS topics carrying its critical traffic (a session is on the union of its live subscriptions', `alarm/*` replacing per-site alarm topics). */
  criticalKeys(grant: Grant): readonly string[];
}

const NO_TOPICS: readonly string[] = Object.freeze([]);

class SiteSubscription implements Subscription {
  readonly key: SubscriptionKey;
  readonly topics: readonly string[];
  readonly shared: boolean;
  readonly #siteId: string;
  readonly #critical: readonly string[];

  constructor(siteId: string, shared: boolean) {
    this.#siteId = siteId;
    this.shared = shared;
    this.key = `site:${siteId}`;
    this.topics = Object.freeze([topics.siteData(siteId)]);
    this.#critical = Object.freeze([topics.siteAlarms(siteId)]);
  }

  get stream(): StreamKey {
    return 'site';
  }

  filter(ns: string): string {
    return `${ns}.site.${this.#siteId}.>`;
  }

  matches(event: LiveEvent): boolean {
    return event.owner === this.#siteId;
  }

  criticalKeys(): readonly string[] {
    return this.#critical;
  }
}

/** Sites with a cached subscription at most; past it a site's subscription is built per call (still correct). */
const MAX_CACHED_SITES = 100_000;
const siteSubscriptions = new Map<string, SiteSubscription>();

export function siteSubscription(siteId: string): Subscription {
  let sub = siteSubscriptions.get(siteId);
  if (sub === undefined) {
    const cached = siteSubscriptions.size < MAX_CACHED_SITES;
    sub = new SiteSubscription(siteId, cached);
    if (cached) siteSubscriptions.set(siteId, sub);
  }
  return sub;
}

/** Alarms of every site the token grants. */
class AlarmsSubscription implements Subscription {
  readonly key = 'alarms';
  readonly stream = 'site';
  readonly shared = true;
  readonly topics = NO_TOPICS;

  filter(ns: string): string {
    return `${ns}.site.*.alarm.>`;
  }

  matches(e: LiveEvent, grant: Grant): boolean {
    return e.isAlarm && grantsSite(grant, e.owner);
  }

  criticalKeys(grant: Grant): readonly string[] {
    return grant.sites === '*' ? [topics.allAlarms] : [...grant.sites].map(topics.siteAlarms);
  }
}

export const alarmsSubscription: Subscription = new AlarmsSubscription();

/** `userKey` is the grant's subject-safe key (`userToken`), never the id as the token spelled it. */
class UserSubscription implements Subscription {
  readonly #userKey: string;

  constructor(userKey: string) {
    this.#userKey = userKey;
  }

  get key(): SubscriptionKey {
    return 'user';
  }

  get stream(): StreamKey {
    return 'user';
  }

  get shared(): boolean {
    return false;
  }

  get topics(): readonly string[] {
    return NO_TOPICS;
  }

  filter(ns: string): string {
    return `${ns}.user.${this.#userKey}.>`;
  }

  matches(e: LiveEvent): boolean {
    return e.owner === this.#userKey;
  }

  criticalKeys(): readonly string[] {
    return [topics.user(this.#userKey)];
  }
}

export function userSubscription(userKey: string): Subscription {
  return new UserSubscription(userKey);
}

/** The global log: system messages only, or (`notifications`) broadcast notifications as well. */
class GlobalSubscription implements Subscription {
  readonly key = 'global';
  readonly stream = 'global';
  readonly shared = true;
  readonly topics = NO_TOPICS;
  readonly #notifications: boolean;
  readonly #critical: readonly string[];

  constructor(notifications: boolean) {
    this.#notifications = notifications;
    this.#critical = Object.freeze(notifications ? [topics.globalSystem, topics.globalNotifications] : [topics.globalSystem]);
  }

  filter(ns: string): string {
    return `${ns}.global.>`;
  }

  matches(e: LiveEvent): boolean {
    return this.#notifications || e.spec.tail === 'system';
  }

  criticalKeys(): readonly string[] {
    return this.#critical;
  }
}

/** System messages: every session has it from the start. */
export const systemSubscription: Subscription = new GlobalSubscription(false);

/** System messages and broadcast notifications: replaces systemSubscription on `subscribe:notifications`. */
export const globalSubscription: Subscription = new GlobalSubscription(true);
