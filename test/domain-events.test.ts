/**
 * Domain events under the seed's names: what the projections fold is read from
 * the payload; a malformed one is refused at the edge (buildAppend, shared by
 * HubPublisher and POST /api/events) with the reason; a plain seed update passes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DOMAIN_EVENTS, isSiteEvent } from '../protocol/catalogue.ts';
import { parseDomainEvent } from '../protocol/domain-events.ts';
import { InvalidEventError } from '../protocol/errors.ts';
import { buildAppend } from '../protocol/event-append.ts';

describe('domain events', () => {
  it('reads each domain event from its seed payload', () => {
    assert.deepEqual(parseDomainEvent('production:update', { type: 'batch_started', batch: { id: 77, volume: 8 } }), { type: 'batch_started', batchId: '77', volume: 8 });
    assert.deepEqual(parseDomainEvent('production:update', { type: 'batch_completed', batch: { id: 'b', volume: 7.5 } }), { type: 'batch_completed', batchId: 'b', volume: 7.5 });
    assert.deepEqual(parseDomainEvent('task:update', { id: 5, status: 'delivering', vehicle: {} }), { type: 'status_changed', entity: 'task', id: '5', status: 'delivering' });
    assert.deepEqual(parseDomainEvent('order:update', { id: 1, status: 'confirmed' }), { type: 'status_changed', entity: 'order', id: '1', status: 'confirmed' });
    assert.deepEqual(parseDomainEvent('vehicle:update', { id: 'T1', status: 'idle' }), { type: 'status_changed', entity: 'vehicle', id: 'T1', status: 'idle' });
    assert.deepEqual(parseDomainEvent('inventory:update', { type: 'stock_in', material: { id: 3, name: 'Sand', unit: 't', min_stock: 20 }, quantity: 12 }), {
      type: 'stock_in',
      material: { id: '3', name: 'Sand', unit: 't', threshold: 20 },
      quantity: 12,
    });
    assert.deepEqual(parseDomainEvent('inventory:update', { type: 'adjustment', material: { id: 'c' }, quantity: -2 }), { type: 'adjustment', material: { id: 'c' }, quantity: -2 });
    assert.deepEqual(parseDomainEvent('alarm:new', { id: 'a', siteId: 1, level: 'high', title: 'Mixer' }), { type: 'alarm_raised', id: 'a', level: 'high', title: 'Mixer' });
    assert.deepEqual(parseDomainEvent('alarm:update', { id: 'a', status: 'acknowledged' }), { type: 'alarm_acknowledged', id: 'a', level: undefined, title: undefined });
    assert.deepEqual(parseDomainEvent('alarm:update', { id: 'a', status: 'resolved', level: 'low' }), { type: 'alarm_cleared', id: 'a', level: 'low', title: undefined });
  });

  it('reads Decimal columns (sent as their JSON strings, "8.5") as the numbers they are, and leaves the payload a string', () => {
    assert.deepEqual(parseDomainEvent('production:update', { type: 'batch_completed', batch: { id: 1, volume: '8.5' } }), { type: 'batch_completed', batchId: '1', volume: 8.5 });
    assert.deepEqual(parseDomainEvent('inventory:update', { type: 'stock_out', material: { id: 2, min_stock: '12.25' }, quantity: '1e-1' }), { type: 'stock_out', material: { id: '2', threshold: 12.25 }, quantity: 0.1 });
    assert.deepEqual(parseDomainEvent('inventory:update', { type: 'adjustment', material: { id: 2 }, quantity: '-3.50' }), { type: 'adjustment', material: { id: '2' }, quantity: -3.5 });
    for (const notANumber of ['', ' ', '0x10', 'Infinity', '1,5', '8.5 t', '1e999']) {
      assert.throws(() => parseDomainEvent('inventory:update', { type: 'stock_in', material: { id: 1 }, quantity: notANumber }), InvalidEventError, JSON.stringify(notANumber));
    }
    assert.equal(buildAppend('plant', { event: 'production:update', siteId: 1, data: { type: 'batch_started', batch: { id: 1, volume: '8.5' } } }).subject, 'plant.site.1.production.updated');
  });

  it('passes plain seed updates through, unfolded', () => {
    assert.equal(parseDomainEvent('production:update', { line: 2, output: 40 }), undefined);
    assert.equal(parseDomainEvent('task:update', { id: 1, note: 'no status' }), undefined);
    assert.equal(parseDomainEvent('inventory:update', { material: { id: 1 } }), undefined);
    assert.equal(parseDomainEvent('alarm:new', { title: 'no id', siteId: 1 }), undefined);
    assert.equal(parseDomainEvent('dashboard:update', { offset: 1 }), undefined);
    assert.equal(parseDomainEvent('task:update', 'text'), undefined);
  });

  it('refuses malformed domain events at the edge, saying why', () => {
    const refused = (event: 'production:update' | 'task:update' | 'inventory:update' | 'alarm:new', data: unknown, reason: RegExp) =>
      assert.throws(() => buildAppend('plant', { event, siteId: 1, data }), (e: Error) => e instanceof InvalidEventError && reason.test(e.message));
    refused('production:update', { type: 'batch_started' }, /batch must be an object/);
    refused('production:update', { type: 'batch_completed', batch: { id: 1, volume: -1 } }, /volume must not be negative/);
    refused('task:update', { status: 'loading' }, /id must be/);
    refused('task:update', { id: 1, status: '' }, /status must be/);
    refused('inventory:update', { type: 'stock_out', material: { id: 'c' }, quantity: 'lots' }, /quantity must be a finite number/);
    refused('inventory:update', { type: 'stock_in', material: { id: 'c' }, quantity: -3 }, /use an adjustment/);
    refused('inventory:update', { type: 'stock_in', quantity: 3 }, /material must be an object/);
    refused('alarm:new', { id: 'a\u0000b', siteId: 1 }, /id must be/);
    // Well-formed ones, and plain seed updates, append as before.
    assert.equal(buildAppend('plant', { event: 'task:update', siteId: 1, data: { id: 1, status: 'loading' } }).subject, 'plant.site.1.task.updated');
    assert.equal(buildAppend('plant', { event: 'production:update', siteId: 1, data: { anything: true } }).subject, 'plant.site.1.production.updated');
  });

  it('lists every domain event in the catalogue under a delivered seed site event', () => {
    assert.equal(Object.keys(DOMAIN_EVENTS).length, 11);
    for (const [name, delivered] of Object.entries(DOMAIN_EVENTS)) assert.ok(isSiteEvent(delivered), `${name} is delivered as ${delivered}`);
  });
});
