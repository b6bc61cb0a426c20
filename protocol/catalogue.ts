/**
 * The event catalogue: every event name the seed's clients know, the log it is
 * appended to, the subject tail that stores it, and its delivery priority.
 */
import type { StreamKey } from './subjects.ts';

/** How an event is treated under load (see docs/protocol.md, "Priorities"). */
export type Priority = 'critical' | 'normal' | 'latest';

export interface EventSpec {
  readonly name: EventName;
  /** Which log holds it; also decides who may see it. */
  readonly stream: StreamKey;
  /** Subject tail after `<ns>.site.<id>.`, `<ns>.user.<id>.` or `<ns>.global.`. */
  readonly tail: string;
  readonly priority: Priority;
}

/** Site events: `<ns>.site.<siteId>.<aggregate>.<action>`. */
const SITE_EVENTS = {
  'alarm:new': { tail: 'alarm.raised', priority: 'critical' },
  'alarm:update': { tail: 'alarm.updated', priority: 'critical' },
  'production:update': { tail: 'production.updated', priority: 'normal' },
  'task:update': { tail: 'task.updated', priority: 'normal' },
  'order:update': { tail: 'order.updated', priority: 'normal' },
  'inventory:update': { tail: 'inventory.updated', priority: 'normal' },
  'vehicle:update': { tail: 'vehicle.updated', priority: 'latest' },
  'dashboard:update': { tail: 'dashboard.updated', priority: 'latest' },
} as const;

export type SiteEventName = keyof typeof SITE_EVENTS;
export type EventName = SiteEventName | 'notification:new' | 'system:message';

export const SITE_EVENT_NAMES = Object.keys(SITE_EVENTS) as SiteEventName[];
export const EVENT_NAMES: readonly EventName[] = [...SITE_EVENT_NAMES, 'notification:new', 'system:message'];

const specs: EventSpec[] = [
  ...SITE_EVENT_NAMES.map((name): EventSpec => ({ name, stream: 'site', ...SITE_EVENTS[name] })),
  // A private notification; the same event name on the global log is a broadcast to everyone.
  { name: 'notification:new', stream: 'user', tail: 'notification', priority: 'critical' },
  { name: 'notification:new', stream: 'global', tail: 'notification', priority: 'critical' },
  { name: 'system:message', stream: 'global', tail: 'system', priority: 'critical' },
];

/** Every (event, log) pair, as the logs store them: `notification:new` appears twice, once per log that carries it (README's events table). */
export const EVENT_SPECS: readonly EventSpec[] = Object.freeze(specs);

const bySubject = new Map<string, EventSpec>(specs.map((s) => [`${s.stream}:${s.tail}`, s]));

/** The spec stored under a subject tail of a log, or undefined for subjects the hub does not deliver. */
export function specForSubject(stream: StreamKey, tail: string): EventSpec | undefined {
  return bySubject.get(`${stream}:${tail}`);
}

/** The spec of an event name in a log, or undefined when that log does not hold it. */
export function specForEvent(stream: StreamKey, name: EventName): EventSpec | undefined {
  return specs.find((s) => s.stream === stream && s.name === name);
}

export function isSiteEvent(name: unknown): name is SiteEventName {
  return typeof name === 'string' && Object.hasOwn(SITE_EVENTS, name);
}

export function siteEventSpec(name: SiteEventName): EventSpec {
  return bySubject.get(`site:${SITE_EVENTS[name].tail}`)!;
}

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && (EVENT_NAMES as readonly string[]).includes(name);
}

/** Levels accepted for `system:message`, as the seed used them. */
export const SYSTEM_LEVELS = ['info', 'success', 'warning', 'error', 'critical'] as const;
export type SystemLevel = (typeof SYSTEM_LEVELS)[number];

/**
 * Domain events the projections fold (protocol/domain-events.ts). Each travels under
 * a seed name above, with the seed's payload; the payload says what happened: its
 * `type` for production and inventory (as the seed sent them), the entity's new
 * `status` for tasks, orders, vehicles and alarm updates.
 */
export const DOMAIN_EVENTS = {
  batch_started: 'production:update',
  batch_completed: 'production:update',
  task_status_changed: 'task:update',
  order_status_changed: 'order:update',
  vehicle_status_changed: 'vehicle:update',
  stock_in: 'inventory:update',
  stock_out: 'inventory:update',
  adjustment: 'inventory:update',
  alarm_raised: 'alarm:new',
  alarm_acknowledged: 'alarm:update',
  alarm_cleared: 'alarm:update',
} as const satisfies Record<string, SiteEventName>;
export type DomainEventName = keyof typeof DOMAIN_EVENTS;
