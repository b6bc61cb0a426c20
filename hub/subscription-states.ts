/**
 * A session's subscriptions by key: a handful per connection (HUB_MAX_SUBSCRIPTIONS bounds them), kept in an
 * array of exactly their number. A Map cost ~190 bytes per connection even with two entries; subscribing is
 * rare and lookups scan a few entries.
 */
import type { Subscription, SubscriptionKey } from './subscription.ts';

export interface SubscriptionState {
  readonly sub: Subscription;
  /** False while a resume replays; live traffic reaches it only once true. */
  live: boolean;
  cancelled: boolean;
}

const NONE: readonly SubscriptionState[] = Object.freeze([]);

export class SubscriptionStates {
  #states: readonly SubscriptionState[] = NONE;

  get size(): number {
    return this.#states.length;
  }

  get(key: SubscriptionKey): SubscriptionState | undefined {
    for (const s of this.#states) if (s.sub.key === key) return s;
    return undefined;
  }

  has(key: SubscriptionKey): boolean {
    return this.get(key) !== undefined;
  }

  /** Adds `state`, or replaces the one with its key (in place: the order is the order of first subscription). */
  set(state: SubscriptionState): void {
    const i = this.#states.findIndex((s) => s.sub.key === state.sub.key);
    if (i === -1) this.#states = this.#states.concat(state);
    else this.#states = this.#states.map((s, j) => (j === i ? state : s));
  }

  delete(key: SubscriptionKey): void {
    if (this.has(key)) this.#states = this.#states.filter((s) => s.sub.key !== key);
  }

  /** The states now; a snapshot: adding or deleting later does not change an iteration under way. */
  values(): readonly SubscriptionState[] {
    return this.#states;
  }

  *keys(): IterableIterator<SubscriptionKey> {
    for (const s of this.#states) yield s.sub.key;
  }
}
