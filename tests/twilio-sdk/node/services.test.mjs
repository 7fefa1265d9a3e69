// Services through twilio-node: create, fetch, update, list across pages, remove; Twilio's
// exceptions for wrong credentials, another tenant's service, a wrong parameter.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, tenant, other, rejects } from './door.mjs';

const verify = client(tenant.sid, tenant.key).verify.v2;

test('a service is created, fetched, updated and removed', async () => {
  const created = await verify.services.create({ friendlyName: 'Node App', codeLength: 7 });
  assert.match(created.sid, /^VA[0-9a-f]{32}$/);
  assert.equal(created.accountSid, tenant.sid);
  assert.equal(created.friendlyName, 'Node App');
  assert.equal(created.codeLength, 7);
  assert.ok(created.dateCreated instanceof Date && !isNaN(created.dateCreated));
  const fetched = await verify.services(created.sid).fetch();
  assert.equal(fetched.friendlyName, 'Node App');
  const updated = await verify.services(created.sid).update({ friendlyName: 'Renamed' });
  assert.equal(updated.friendlyName, 'Renamed');
  assert.equal(updated.codeLength, 7);
  assert.equal(await verify.services(created.sid).remove(), true);
  await rejects(() => verify.services(created.sid).fetch(), 404, 20404);
});

test('services are listed across pages', async () => {
  const made = [];
  for (let n = 0; n < 5; n++) {
    made.push((await verify.services.create({ friendlyName: `Paged ${n}` })).sid);
  }
  const listed = (await verify.services.list({ pageSize: 2 })).map((s) => s.sid);
  const ours = listed.filter((sid) => made.includes(sid));
  assert.deepEqual(ours, made);
  const page = await verify.services.page({ pageSize: 2 });
  assert.equal(page.instances.length, 2);
  assert.ok(page.nextPageUrl);
  const next = await page.nextPage();
  assert.equal(next.instances.length, 2);
  for (const sid of made) await verify.services(sid).remove();
});

test('a wrong API key is 20003', async () => {
  const stranger = client(tenant.sid, 'sk_test_nottherightkeyatall0000000000').verify.v2;
  await rejects(() => stranger.services.list(), 401, 20003);
  const mixed = client(tenant.sid, other.key).verify.v2;
  await rejects(() => mixed.services.create({ friendlyName: 'x' }), 401, 20003);
});

test("another tenant's service does not exist for this one", async () => {
  const theirs = await client(other.sid, other.key).verify.v2.services.create({ friendlyName: 'Theirs' });
  await rejects(() => verify.services(theirs.sid).fetch(), 404, 20404);
  await rejects(() => verify.services(theirs.sid).update({ friendlyName: 'Mine' }), 404, 20404);
  await rejects(() => verify.services(theirs.sid).remove(), 404, 20404);
});

test('a wrong parameter is 60200', async () => {
  const error = await rejects(() => verify.services.create({ friendlyName: 'x', codeLength: 3 }), 400, 60200);
  assert.match(error.message, /CodeLength/);
  await rejects(() => verify.services.create({ friendlyName: 'x', lookupEnabled: true }), 400, 60200);
});
