/**
 * A session's subscriptions by key: a handful per connection (HUB_MAX_SUBSCRIPTIONS bounds them), kept as a
 * list linked through the states themselves, starting at a field of the session (`firstState`). A Map cost
 * ~190 bytes per connection with two entries, an array ~64, a holder object of its own 32; subscribing is rare
 * and lookups walk a few entries.
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

/** Where a session's list starts: a field of the session itself, so the list has no object of its own. */
export interface StatesOwner {
  firstState: SubscriptionState | undefined;
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

/**
 * The state of a global-log subscription that is live from its first frame (a session that does not ack has
 * nothing to resume): it never replays, so nothing in it belongs to one session, and every such session holds
 * the same one (its own would cost 48 bytes a connection). Its flags do not change (a session leaving it only
 * unlinks it), and it is always last in a list, where `next` stays undefined.
 */
class SharedState implements SubscriptionState {
  readonly sub: Subscription;

  constructor(sub: Subscription) {
    this.sub = sub;
  }

  get live(): boolean {
    return true;
  }

  set live(_: boolean) {}

  get cancelled(): boolean {
    return false;
  }

  set cancelled(_: boolean) {}

  get next(): SubscriptionState | undefined {
    return undefined;
  }

  set next(state: SubscriptionState | undefined) {
    if (state !== undefined) throw new Error('a shared subscription state is always last in a list');
  }
}

/** A new state of `sub`: not live yet, in no list yet. */
export function subscriptionState(sub: Subscription): SubscriptionState {
  return new State(sub);
}

/** The global log's subscriptions (two, module-wide) and their shared states. */
const sharedStates = new Map<Subscription, SharedState>();

/**
 * A state of `sub` for a session that is live from the first frame (the caller joins it to live at once): the
 * shared one for the global log's subscriptions, else a new one.
 */
export function liveState(sub: Subscription): SubscriptionState {
  if (sub.key !== 'global') return new State(sub);
  let state = sharedStates.get(sub);
  if (state === undefined) sharedStates.set(sub, (state = new SharedState(sub)));
  return state;
}

/** A session's list, read and changed through the session's `firstState` (a view: holds nothing itself). */
export class SubscriptionStates {
  readonly #owner: StatesOwner;

  constructor(owner: StatesOwner) {
    this.#owner = owner;
  }

  /** Counted when asked (a slot less per connection): subscribing is rare and the list is short. */
  get size(): number {
    let n = 0;
    for (let s = this.#owner.firstState; s !== undefined; s = s.next) n++;
    return n;
  }

  get(key: SubscriptionKey): SubscriptionState | undefined {
    for (let s = this.#owner.firstState; s !== undefined; s = s.next) if (s.sub.key === key) return s;
    return undefined;
  }

  has(key: SubscriptionKey): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * Adds `state` (in no list yet), or puts it in the place of the one with its key: the order is the order of
   * first subscription, but for a shared state, which goes last.
   */
  set(state: SubscriptionState): void {
    const shared = state instanceof SharedState;
    let prev: SubscriptionState | undefined;
    for (let s = this.#owner.firstState; s !== undefined; prev = s, s = s.next) {
      if (s.sub.key !== state.sub.key) continue;
      if (!shared) {
        state.next = s.next;
        this.#link(prev, state);
        return;
      }
      this.#link(prev, s.next);
      break;
    }
    // At the end, before a shared state if there is one (there is one at most: the global log's key).
    let last: SubscriptionState | undefined;
    prev = undefined;
    for (let s = this.#owner.firstState; s !== undefined; prev = s, s = s.next) last = s;
    if (last instanceof SharedState) {
      if (shared) throw new Error(`a list has one shared subscription state at most (${last.sub.key}, ${state.sub.key})`);
      let before: SubscriptionState | undefined;
      for (let s = this.#owner.firstState; s !== last; s = s!.next) before = s;
      state.next = last;
      this.#link(before, state);
      return;
    }
    state.next = undefined;
    this.#link(prev, state);
  }

  delete(key: SubscriptionKey): void {
    let prev: SubscriptionState | undefined;
    for (let s = this.#owner.firstState; s !== undefined; prev = s, s = s.next) {
      if (s.sub.key !== key) continue;
      this.#link(prev, s.next);
      return;
    }
  }

  /** The states now, as an array: adding or deleting later does not change an iteration under way. */
  values(): SubscriptionState[] {
    const out: SubscriptionState[] = [];
    for (let s = this.#owner.firstState; s !== undefined; s = s.next) out.push(s);
    return out;
  }

  keys(): SubscriptionKey[] {
    return this.values().map((s) => s.sub.key);
  }

  /** Makes `state` follow `prev` (or start the list). */
  #link(prev: SubscriptionState | undefined, state: SubscriptionState | undefined): void {
    if (prev === undefined) this.#owner.firstState = state;
    else prev.next = state;
  }
}
