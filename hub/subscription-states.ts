/**
 * A session's subscriptions by key: a handful per connection (HUB_MAX_SUBSCRIPTIONS bounds them), kept as a
 * list linked through the states themselves, starting at a field of the session (`firstState`). A Map cost
 * ~190 bytes per connection with two entries, an array ~64, a holder object of its own 32; subscribing is rare
 * and lookups walk a few entries.
 *
 * A state is the session's own while it may still change (a resume replays into it, or cancels it). Once it
 * is live, a state of a subscription that serves every session (`sub.shared`) holds nothing of the session:
 * it is settled into the list's tail, whose cells are immutable and shared by every session with the same
 * tail (thousands of a site's viewers hold one `[site:7, global]`), so an idle connection holds no state
 * object at all. A list is its own states first, then its settled ones.
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

/** A session's own state. Its two flags in one small integer: a slot less per subscription and connection. */
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
 * A settled state: live, never replaying again, the same for every session, so an immutable cell shared by the
 * lists that end the same. Its flags do not change: a session leaving it only takes it out of its own list.
 */
class SettledState implements SubscriptionState {
  readonly sub: Subscription;
  readonly #next: SettledState | undefined;

  constructor(sub: Subscription, next: SettledState | undefined) {
    this.sub = sub;
    this.#next = next;
  }

  get live(): boolean {
    return true;
  }

  set live(_: boolean) {}

  get cancelled(): boolean {
    return false;
  }

  set cancelled(_: boolean) {}

  get next(): SettledState | undefined {
    return this.#next;
  }

  set next(_: SubscriptionState | undefined) {
    throw new Error('a settled subscription state is shared: it is never relinked');
  }
}

/** A new state of `sub`: the session's own, not live yet, in no list yet. */
export function subscriptionState(sub: Subscription): SubscriptionState {
  return new State(sub);
}

/** Settled cells kept for sharing at most; past it a list gets cells of its own (still correct). */
const MAX_SETTLED = 100_000;
/** Per subscription, per rest of the list (undefined: none), the one cell of that subscription and rest. */
const settledCells = new Map<Subscription, Map<SettledState | undefined, SettledState>>();
let settledCount = 0;

function settledCell(sub: Subscription, next: SettledState | undefined): SettledState {
  let byNext = settledCells.get(sub);
  const known = byNext?.get(next);
  if (known !== undefined) return known;
  const cell = new SettledState(sub, next);
  if (settledCount < MAX_SETTLED) {
    if (byNext === undefined) settledCells.set(sub, (byNext = new Map()));
    byNext.set(next, cell);
    settledCount++;
  }
  return cell;
}

/** A list taken apart: the session's own states, then the settled ones' subscriptions, in list order. */
interface Parts {
  readonly own: SubscriptionState[];
  readonly settled: Subscription[];
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
   * Adds `state` (a new one, see subscriptionState), or puts it in the place of the session's own state with
   * its key (a settled one of its key is taken out: the new one joins the session's own).
   */
  set(state: SubscriptionState): void {
    if (!(state instanceof State)) throw new Error('only a new subscription state is added to a list');
    const { own, settled } = this.#parts();
    const i = own.findIndex((s) => s.sub.key === state.sub.key);
    if (i !== -1) own[i] = state;
    else own.push(state);
    this.#build(own, settled.filter((sub) => sub.key !== state.sub.key));
  }

  delete(key: SubscriptionKey): void {
    const { own, settled } = this.#parts();
    this.#build(
      own.filter((s) => s.sub.key !== key),
      settled.filter((sub) => sub.key !== key),
    );
  }

  /**
   * `state` went live and nothing more of it is the session's (its resume is over): a shared subscription's
   * moves to the settled tail, first in it. Others, and states no longer in the list, stay as they are.
   */
  settle(state: SubscriptionState): void {
    if (!(state instanceof State) || !state.live || state.cancelled || !state.sub.shared) return;
    const { own, settled } = this.#parts();
    const i = own.indexOf(state);
    if (i === -1) return;
    own.splice(i, 1);
    settled.unshift(state.sub);
    this.#build(own, settled);
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

  #parts(): Parts {
    const own: SubscriptionState[] = [];
    const settled: Subscription[] = [];
    for (let s = this.#owner.firstState; s !== undefined; s = s.next) {
      if (s instanceof SettledState) settled.push(s.sub);
      else own.push(s);
    }
    return { own, settled };
  }

  /** Relinks the list: the session's own states, then the shared cells of the settled subscriptions. */
  #build(own: readonly SubscriptionState[], settled: readonly Subscription[]): void {
    let next: SubscriptionState | undefined;
    let tail: SettledState | undefined;
    for (let i = settled.length - 1; i >= 0; i--) tail = settledCell(settled[i]!, tail);
    next = tail;
    for (let i = own.length - 1; i >= 0; i--) {
      own[i]!.next = next;
      next = own[i];
    }
    this.#owner.firstState = next;
  }
}
