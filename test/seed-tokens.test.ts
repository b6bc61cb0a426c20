/**
 * The seed's tokens, unchanged: its NestJS auth service signs `{userId: 42, username, role, siteId}`
 * or `{sub, sites}`, with user ids that are numbers, e-mails or UUIDs. Claim names are configurable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { WebSocket } from 'ws';
import { ConfigError, loadConfig } from '../hub/config.ts';
import { CloseCode, ErrorCode, HubClient, HubError } from '../protocol/index.ts';
import type { HubPublisher } from '../protocol/publisher.ts';
import { RawSocket } from './support/raw-socket.ts';
import { Recorder } from './support/recorder.ts';
import { startTestHub, TEST_SECRET, type TestHub } from './support/test-hub.ts';
import { waitFor } from './support/wait-for.ts';

/** Signs any claims, as another service would: no `sub`, `sites` or `role` added. */
function seedToken(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(TEST_SECRET));
}

/** The `connected` frame's userId, as the hub shows it to the client. */
async function connectedUserId(t: TestHub, claims: Record<string, unknown>): Promise<unknown> {
  const raw = await RawSocket.connect(t.wsUrl, { token: await seedToken(claims), format: 'json' });
  raw.close();
  assert.equal(raw.frames[0]![0], 'connected');
  return (raw.frames[0]![1] as { userId: unknown }).userId;
}

async function refusal(t: TestHub, claims: Record<string, unknown>): Promise<HubError> {
  const client = new HubClient({ url: t.wsUrl, token: await seedToken(claims), WebSocket, reconnect: false });
  try {
    await client.connect();
  } catch (e) {
    assert.ok(e instanceof HubError, `expected a HubError, got ${String(e)}`);
    assert.equal(e.code, CloseCode.Unauthorized);
    return e;
  }
  client.close();
  assert.fail('the hub accepted a token it should have refused');
}

/** Which of `sites` a token may subscribe to (others answer Forbidden). */
async function subscribableSites(t: TestHub, claims: Record<string, unknown>, sites: readonly number[]): Promise<number[]> {
  const r = await Recorder.connect(t.wsUrl, await seedToken(claims));
  const granted: number[] = [];
  try {
    for (const site of sites) {
      try {
        await r.client.subscribeSite(site);
        granted.push(site);
      } catch (e) {
        assert.ok(e instanceof HubError && e.code === ErrorCode.Forbidden, `site ${site}: expected Forbidden, got ${String(e)}`);
      }
    }
  } finally {
    r.close();
  }
  return granted;
}

/** Private notifications go live once the session has read the user's cursor: poll for that before appending. */
function notificationsLive(r: Recorder): Promise<void> {
  return waitFor(async () => ((await r.client.subscribeNotifications()) as { live: boolean }).live, { timeoutMs: 5000, what: 'notifications to go live' });
}

describe('seed tokens with the default claims', () => {
  let t: TestHub;
  let pub: HubPublisher;
  before(async () => {
    t = await startTestHub();
    pub = await t.publisher();
  });
  after(() => t.stop());

  it('{userId: 42, role: "operator", siteId: 3} is user 42 and sees site 3 only', async () => {
    const claims = { userId: 42, username: 'op42', role: 'operator', siteId: 3 };
    assert.equal(await connectedUserId(t, claims), 42, 'the user id comes back as the token gave it, a number');
    assert.deepEqual(await subscribableSites(t, claims, [1, 3, 4]), [3]);

    const r = await Recorder.connect(t.wsUrl, await seedToken(claims));
    await r.client.subscribeAlarms();
    await pub.sendAlarmNotification({ id: 'other-site', siteId: 1 });
    await pub.sendAlarmNotification({ id: 'own-site', siteId: 3 });
    await r.waitFor((rs) => rs.some((e) => e.name === 'alarm:new'));
    await r.settle();
    assert.deepEqual(r.of('alarm:new').map((e) => e.data.id), ['own-site']);
    // The role claim is read: an operator may acknowledge, and is recorded by the id its token gave.
    await r.client.acknowledgeAlarm('own-site', 3);
    await r.waitFor((rs) => rs.some((e) => e.name === 'alarm:update'));
    assert.equal(r.of('alarm:update')[0]!.data.acknowledgedBy, 42);
    r.close();
  });

  it('{sub: "ann@plant.example", sites: [1]} connects and gets the notifications sent to that address, and no one else’s', async () => {
    assert.equal(await connectedUserId(t, { sub: 'ann@plant.example', sites: [1] }), 'ann@plant.example');
    const ann = await Recorder.connect(t.wsUrl, await seedToken({ sub: 'ann@plant.example', sites: [1] }));
    const bob = await Recorder.connect(t.wsUrl, await seedToken({ sub: 'bob@plant.example', sites: [1] }));
    await notificationsLive(ann);
    await notificationsLive(bob);
    await pub.sendUserNotification('ann@plant.example', { title: 'for ann' });
    await pub.sendUserNotification('bob@plant.example', { title: 'for bob' });
    await ann.waitFor((rs) => rs.some((e) => e.name === 'notification:new'));
    await bob.waitFor((rs) => rs.some((e) => e.name === 'notification:new'));
    for (const r of [ann, bob]) await r.settle();
    assert.deepEqual(ann.of('notification:new').map((e) => e.data.title), ['for ann']);
    assert.deepEqual(bob.of('notification:new').map((e) => e.data.title), ['for bob']);
    ann.close();
    bob.close();
  });

  it('an e-mail user gets on the next connection what was sent while offline (the durable cursor is keyed by userKey)', async () => {
    const token = await seedToken({ sub: 'carl.o@plant.example', sites: [] });
    const first = await Recorder.connect(t.wsUrl, token);
    await notificationsLive(first);
    const read = await pub.sendUserNotification('carl.o@plant.example', { title: 'read' });
    await first.waitFor((rs) => rs.some((e) => e.meta?.offset === read));
    first.close(); // sends its ack first

    const missed = await pub.sendUserNotification('carl.o@plant.example', { title: 'sent while offline' });
    const second = await Recorder.connect(t.wsUrl, token);
    await second.client.subscribeNotifications();
    await second.waitFor((rs) => rs.some((e) => e.meta?.offset === missed));
    await second.settle();
    assert.deepEqual(second.of('notification:new').map((e) => e.data.title), ['sent while offline']);
    second.close();
  });

  it('counts 42 and "42" as one user online (presence is keyed by userKey)', async () => {
    const a = await Recorder.connect(t.wsUrl, await seedToken({ userId: 4242, siteId: 77 }));
    const b = await Recorder.connect(t.wsUrl, await seedToken({ sub: '4242', sites: ['77'] }));
    await a.client.subscribeSite(77);
    await b.client.subscribeSite(77);
    const stats = (await (await fetch(`${t.httpUrl}/api/stats/online`)).json()) as { sites: Record<string, unknown> };
    assert.deepEqual(stats.sites['77'], { users: 1, connections: 2 });
    a.close();
    b.close();
  });

  it('auth:refresh accepts the same user under another claim ({userId: 7} then {sub: "7"}) and refuses another user', async () => {
    const r = await Recorder.connect(t.wsUrl, await seedToken({ userId: 7, siteId: 1 }));
    const refreshed = (await r.client.request('auth:refresh', { token: await seedToken({ sub: '7', sites: [1] }) })) as { revokedSites: string[] };
    assert.deepEqual(refreshed.revokedSites, []);
    await assert.rejects(r.client.request('auth:refresh', { token: await seedToken({ userId: 8, siteId: 1 }) }), (e: unknown) => e instanceof HubError && e.code === ErrorCode.BadToken && /same user/.test(e.message));
    r.close();
  });

  it('an admin sees every site, by `role` or among `roles`', async () => {
    assert.deepEqual(await subscribableSites(t, { userId: 1, role: 'admin', siteId: 3 }, [3, 9, 12]), [3, 9, 12]);
    assert.deepEqual(await subscribableSites(t, { sub: 'multi', roles: ['viewer', 'admin'] }, [5, 6]), [5, 6]);
    assert.deepEqual(await subscribableSites(t, { sub: 'plain', roles: ['viewer', 'operator'], sites: [5] }, [5, 6]), [5]);
  });

  it('takes sites as numbers or strings, from `sites` and `siteId` together; a null siteId grants nothing and is no error', async () => {
    assert.deepEqual(await subscribableSites(t, { userId: 2, sites: ['4', 5], siteId: '6' }, [4, 5, 6, 7]), [4, 5, 6]);
    assert.deepEqual(await subscribableSites(t, { userId: 3, siteId: null }, [1]), []);
  });

  it('accepts a user id of 128 characters and refuses one of 129 with a clear reason', async () => {
    const at128 = `${'u'.repeat(128 - '@plant.example'.length)}@plant.example`;
    assert.equal(at128.length, 128);
    assert.equal(await connectedUserId(t, { sub: at128 }), at128);
    const e = await refusal(t, { sub: `x${at128}` });
    assert.equal(e.message, 'token sub is not a usable user id (a string of 1 to 128 characters, or a non-negative integer)');
  });

  it('refuses a user id that is not an id (negative, fractional, an object), naming the claim', async () => {
    assert.match((await refusal(t, { userId: -1 })).message, /^token userId is not a usable user id/);
    assert.match((await refusal(t, { userId: 4.5 })).message, /^token userId is not a usable user id/);
    assert.match((await refusal(t, { id: { value: 1 } })).message, /^token id is not a usable user id/);
  });

  it('refuses a token without any user claim, naming the claims it looked for', async () => {
    assert.equal((await refusal(t, { username: 'nobody', siteId: 1 })).message, 'token has no user id (looked for sub, userId, id)');
  });

  it('refuses a siteId that is not a site id', async () => {
    assert.equal((await refusal(t, { userId: 5, siteId: 'a.b' })).message, 'token siteId "a.b" is not a site id');
  });
});

describe('seed tokens with configured claim names', () => {
  let t: TestHub;
  before(async () => {
    t = await startTestHub({
      HUB_JWT_USER_CLAIM: 'uid, email',
      HUB_JWT_SITES_CLAIM: 'plants',
      HUB_JWT_SITE_CLAIM: 'plant',
      HUB_JWT_ROLE_CLAIM: 'authorities',
      HUB_ALL_SITES_ROLES: 'ROLE_ROOT',
    });
  });
  after(() => t.stop());

  it('reads the user, the sites and the site from the configured claims', async () => {
    assert.equal(await connectedUserId(t, { uid: 'u-1', plants: [5] }), 'u-1');
    assert.equal(await connectedUserId(t, { email: 'dee@plant.example' }), 'dee@plant.example');
    assert.deepEqual(await subscribableSites(t, { uid: 'u-1', plants: [5], plant: 6, sites: '*', siteId: 7 }, [5, 6, 7]), [5, 6]);
  });

  it('gives every site to the configured role only', async () => {
    assert.deepEqual(await subscribableSites(t, { uid: 'root', authorities: ['ROLE_USER', 'ROLE_ROOT'] }, [1, 2]), [1, 2]);
    assert.deepEqual(await subscribableSites(t, { uid: 'admin', authorities: 'admin', role: 'ROLE_ROOT' }, [1, 2]), []);
  });

  it('refuses a token whose user is only in a claim not configured', async () => {
    assert.equal((await refusal(t, { sub: 'ann', userId: 42 })).message, 'token has no user id (looked for uid, email)');
  });
});

describe('token claim configuration', () => {
  it('defaults to sub, userId, id; sites and siteId; role and roles; admin sees every site', () => {
    const { auth } = loadConfig({});
    assert.deepEqual(
      { users: auth.userClaims, sites: auth.sitesClaim, site: auth.siteClaim, roles: auth.roleClaims, all: auth.allSitesRoles },
      { users: ['sub', 'userId', 'id'], sites: 'sites', site: 'siteId', roles: ['role', 'roles'], all: ['admin'] },
    );
  });

  it('HUB_ALL_SITES_ROLES=none gives no role every site', () => {
    assert.deepEqual(loadConfig({ HUB_ALL_SITES_ROLES: 'none' }).auth.allSitesRoles, []);
  });

  it('refuses a HUB_JWT_USER_CLAIM that names no claim', () => {
    assert.throws(
      () => loadConfig({ HUB_JWT_USER_CLAIM: ' , ' }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('HUB_JWT_USER_CLAIM'),
    );
  });

  for (const name of ['HUB_JWT_SITES_CLAIM', 'HUB_JWT_SITE_CLAIM']) {
    it(`refuses a list in ${name}, naming it`, () => {
      assert.throws(
        () => loadConfig({ [name]: 'sites,plants' }),
        (e: unknown) => e instanceof ConfigError && e.message.includes(name),
      );
    });
  }
});
