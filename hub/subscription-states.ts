/**
 * A session's subscriptions by key: a handful per connection (HUB_MAX_SUBSCRIPTIONS bounds them), kept as a
 * list linked through the states themselves. A Map cost ~190 bytes per connection with two entries, an
 * array ~64; subscribing is rare and lookups walk a few entries.
 */
import type { Subscription, SubscriptionKey } from './subscription.ts';

export interface SubscriptionState {
  readonly sub: Subscription;
  /** False while a resume replays; live traffic reaches it only once true. */
  live: boolean;
  cancelled: boolean;
  /** The next state of the session's list (SubscriptionStates' business). */
  next: SubscriptionState | undefined;
}

const LIVE = 1;
const CANCELLED = 2;

/** Its two flags in one small integer: a slot less per subscription and connection. */
class State implements SubscriptionState {
  readonly sub: Subscription;
  next: SubscriptionState | undefined = undefined;
  #bits = 0;

  constructor(sub: Subscription) {
    this.sub = sub;
  }

  get live(): boolean {
    return (this.#bits & LIVE) !== 0;
  }

  set live(value: boolean) {
    this.#bits = value ? this.#bits | LIVE : this.#bits & ~LIVE;
  }

  get cancelled(): boolean {
    return (this.#bits & CANCELLED) !== 0;
  }

  set cancelled(value: boolean) {
    this.#bits = value ? this.#bits | CANCELLED : this.#bits & ~CANCELLED;
  }
}

/** A new state of `sub`: not live yet, in no list yet. */
export function subscriptionState(sub: Subscription): SubscriptionState {
  return new State(sub);
}

export class SubscriptionStates {
  #head: SubscriptionState | undefined;

  /** Counted when asked (a slot less per connection): subscribing is rare and the list is short. */
  get size(): number {
    let n = 0;
    for (let s = this.#head; s !== undefined; s = s.next) n++;
    return n;
  }

  get(key: SubscriptionKey): SubscriptionState | undefined {
    for (let s = this.#head; s !== undefined; s = s.next) if (s.sub.key === key) return s;
    return undefined;
  }

  has(key: SubscriptionKey): boolean {
    return this.get(key) !== undefined;
  }

  /** Adds `state` (in no list yet), or puts it in the place of the one with its key (the order is the order of first subscription). */
  set(state: SubscriptionState): void {
    let prev: SubscriptionState | undefined;
    for (let s = this.#head; s !== undefined; prev = s, s = s.next) {
      if (s.sub.key !== state.sub.key) continue;
      state.next = s.next;
      if (prev === undefined) this.#head = state;
      else prev.next = state;
      return;
    }
    state.next = undefined;
    if (prev === undefined) this.#head = state;
    else prev.next = state;
  }

  delete(key: SubscriptionKey): void {
    let prev: SubscriptionState | undefined;
    for (let s = this.#head; s !== undefined; prev = s, s = s.next) {
      if (s.sub.key !== key) continue;
      if (prev === undefined) this.#head = s.next;
      else prev.next = s.next;
      return;
    }
  }

  /** The states now, as an array: adding or deleting later does not change an iteration under way. */
  values(): SubscriptionState[] {
    const out: SubscriptionState[] = [];
    for (let s = this.#head; s !== undefined; s = s.next) out.push(s);
    return out;
  }

  keys(): SubscriptionKey[] {
    return this.values().map((s) => s.sub.key);
  }
}
