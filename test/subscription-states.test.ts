/**
 * A session's subscription list: states by key in the order of first subscription, a replaced state in the
 * place of the old one, and the global log's shared state (sessions live from their first frame hold one
 * object between them) always last, unchanged by any session leaving it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { liveState, type StatesOwner, subscriptionState, SubscriptionStates } from '../hub/subscription-states.ts';
import { globalSubscription, siteSubscription, systemSubscription } from '../hub/subscription.ts';

const listOf = (): SubscriptionStates => new SubscriptionStates({ firstState: undefined } satisfies StatesOwner);

describe('subscription states', () => {
  it('keeps states in the order of first subscription; a replaced one takes the old one\'s place', () => {
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

  it('gives every live-from-the-start session the same global state, kept last, and one session leaving it changes no other', () => {
    const [a, b] = [listOf(), listOf()];
    const shared = liveState(systemSubscription);
    assert.equal(liveState(systemSubscription), shared, 'one state for every session');
    assert.notEqual(liveState(siteSubscription('3')), liveState(siteSubscription('3')), 'a site\'s live state is the session\'s own');
    a.set(shared);
    b.set(shared);
    a.set(subscriptionState(siteSubscription('3')));
    a.set(subscriptionState(siteSubscription('4')));
    assert.deepEqual(a.keys(), ['site:3', 'site:4', 'global'], 'the shared state stays last');
    // Leaving sets the flags of a session's own state; the shared one's do not move.
    shared.cancelled = true;
    shared.live = false;
    a.delete('global');
    assert.equal(shared.live, true);
    assert.equal(shared.cancelled, false);
    assert.deepEqual(a.keys(), ['site:3', 'site:4']);
    assert.deepEqual(b.keys(), ['global']);
    assert.equal(b.get('global'), shared);
    // Notifications replace the system messages' state by the broadcasts' one, also shared and last.
    b.set(subscriptionState(siteSubscription('5')));
    b.set(liveState(globalSubscription));
    assert.deepEqual(b.keys(), ['site:5', 'global']);
    assert.equal(b.get('global')!.sub, globalSubscription);
    // A session's own state of the key takes the shared one's place.
    const own = subscriptionState(systemSubscription);
    b.set(own);
    assert.deepEqual(b.keys(), ['site:5', 'global']);
    assert.equal(b.get('global'), own);
  });
});
