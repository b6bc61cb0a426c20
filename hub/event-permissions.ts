/**
 * Which roles receive which events (the seed's 按用户权限过滤消息): events named in
 * HUB_EVENT_ROLES reach only sessions with one of their roles; every other event
 * reaches everyone its subscriptions cover, as the seed's gateway did.
 *
 * Permission is decided when a session joins, never per delivered message: a
 * restricted event goes out on a topic (or room, or registry key) of its own,
 * `<base>|<event>`, which only sessions allowed it join.
 */
import { type Grant, hasAnyRole } from './grant.ts';

export class EventPermissions {
  readonly #rules: ReadonlyMap<string, readonly string[]>;

  constructor(rules: ReadonlyMap<string, readonly string[]>) {
    this.#rules = rules;
  }

  /** Whether an event goes out on its own topics. */
  restricted(event: string): boolean {
    return this.#rules.has(event);
  }

  allows(grant: Grant, event: string): boolean {
    const roles = this.#rules.get(event);
    return roles === undefined || hasAnyRole(grant, roles);
  }

  /** Where an event published to `base` goes: `base` itself, or its own topic when restricted. */
  topic(base: string, event: string): string {
    return this.#rules.has(event) ? restrictedTopic(base, event) : base;
  }

  /** Everything a session joins for `base`: it, and the restricted events' topics its roles allow. */
  topicsFor(base: string, grant: Grant): string[] {
    if (this.#rules.size === 0) return [base];
    const out = [base];
    for (const [event, roles] of this.#rules) if (hasAnyRole(grant, roles)) out.push(restrictedTopic(base, event));
    return out;
  }
}

function restrictedTopic(base: string, event: string): string {
  return `${base}|${event}`;
}
