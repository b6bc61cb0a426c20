/**
 * A session's subscription list: states by key, a replaced state in the place of the old one, and live states
 * of subscriptions that serve every session settled into a tail of cells shared by every list that ends the
 * same, which no session's change reaches into another's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type StatesOwner, type SubscriptionState, subscriptionState, SubscriptionStates } from '../hub/subscription-states.ts';
import { siteSubscription, systemSubscription, userSubscription } from '../hub/subscription.ts';

const listOf = (): SubscriptionStates & { readonly owner: StatesOwner } => {
  const owner: StatesOwner = { firstState: undefined };
  return Object.assign(new SubscriptionStates(owner), { owner });
};

/** Adds a new state of `sub`, makes it live and settles it, as a session joining it to live does. */
function goLive(list: SubscriptionStates, state: SubscriptionState): SubscriptionState {
  list.set(state);
  state.live = true;
  list.settle(state);
  return list.get(state.sub.key)!;
}

describe('subscription states', () => {
  it('keeps the session\'s own states in the order of first subscription; a replaced one takes the old one\'s place', () => {
    const list = listOf();
    list.set(subscriptionState(siteSubscription('1')));
    list.set(subscriptionState(siteSubscription('2')));
    const again = subscriptionState(siteSubscription('1'));
    list.set(again);
    assert.deepEqual(list.keys(), ['site:1', 'site:2']);
    assert.equal(list.get('site:1'), again);
    list.delete('site:1');
    assert.deepEqual(list.keys(), ['site:2']);
    assert.equal(list.size, 1);
  });

  it('settles live states of shared subscriptions into one tail shared by the sessions with the same, unchanged by any session leaving', () => {
    const [a, b] = [listOf(), listOf()];
    for (const list of [a, b]) {
      goLive(list, subscriptionState(systemSubscription));
      goLive(list, subscriptionState(siteSubscription('7')));
    }
    assert.deepEqual(a.keys(), ['site:7', 'global']);
    assert.equal(a.owner.firstState, b.owner.firstState, 'one list between the two sessions');
    const shared = a.get('site:7')!;
    assert.equal(shared.live, true);
    // A session leaving sets the flags of its own state; a shared one's do not move, nor another list.
    shared.cancelled = true;
    shared.live = false;
    a.delete('site:7');
    assert.deepEqual(a.keys(), ['global']);
    assert.deepEqual(b.keys(), ['site:7', 'global']);
    assert.equal(shared.live, true);
    assert.equal(shared.cancelled, false);
    assert.throws(() => {
      shared.next = undefined;
    }, /shared/);
  });

  it('keeps a state of its own while it replays, and for a subscription that is the session\'s alone (its user\'s)', () => {
    const list = listOf();
    goLive(list, subscriptionState(systemSubscription));
    const replaying = subscriptionState(siteSubscription('8'));
    list.set(replaying);
    list.settle(replaying); // not live: stays
    assert.equal(list.get('site:8'), replaying);
    assert.deepEqual(list.keys(), ['site:8', 'global'], 'own states first');
    const user = subscriptionState(userSubscription('u1'));
    assert.equal(goLive(list, user), user);
    // A new state of a settled key replaces the settled one and is the session's own again.
    const resubscribed = subscriptionState(systemSubscription);
    list.set(resubscribed);
    assert.deepEqual(list.keys(), ['site:8', 'user', 'global']);
    assert.equal(list.get('global'), resubscribed);
    assert.equal(list.size, 3);
  });
});
