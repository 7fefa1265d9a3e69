// Verifications through twilio-node, as a program written for Twilio Verify calls them:
// create → pending; wrong code → pending/valid false; right → approved; then gone (20404);
// five wrong then right → 60202; cancel then check → 20404; create again while pending → the
// same SID, two send attempts, the newest code works; Twilio's codes for wrong input.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { client, tenant, other, rejects, codeFor, wrong, phone } from './door.mjs';

const verify = client(tenant.sid, tenant.key).verify.v2;
let service;

before(async () => {
  service = verify.services((await verify.services.create({ friendlyName: 'Node Shop' })).sid);
});

for (const channel of ['sms', 'whatsapp', 'email']) {
  test(`${channel}: pending, wrong code, right code, then gone`, async () => {
    const to = channel === 'email' ? `node-${Date.now()}@example.com` : phone();
    const started = await service.verifications.create({ to, channel });
    assert.match(started.sid, /^VE[0-9a-f]{32}$/);
    assert.equal(started.status, 'pending');
    assert.equal(started.valid, false);
    assert.equal(started.channel, channel);
    assert.equal(started.sendCodeAttempts.length, 1);
    assert.ok(started.dateCreated instanceof Date);
    const code = await codeFor(to);
    const missed = await service.verificationChecks.create({ to, code: wrong(code) });
    assert.equal(missed.status, 'pending');
    assert.equal(missed.valid, false);
    const approved = await service.verificationChecks.create({ to, code });
    assert.equal(approved.status, 'approved');
    assert.equal(approved.valid, true);
    await rejects(() => service.verificationChecks.create({ to, code }), 404, 20404);
    await rejects(() => service.verifications(started.sid).fetch(), 404, 20404);
  });
}

test('five wrong checks, then the right code is refused (60202)', async () => {
  const to = phone();
  const started = await service.verifications.create({ to, channel: 'sms' });
  const code = await codeFor(to);
  for (let n = 0; n < 5; n++) {
    const missed = await service.verificationChecks.create({ verificationSid: started.sid, code: wrong(code) });
    assert.equal(missed.status, 'pending');
  }
  await rejects(() => service.verificationChecks.create({ to, code }), 429, 60202);
});

test('cancel, then the code is not found', async () => {
  const to = phone();
  const started = await service.verifications.create({ to, channel: 'sms' });
  const code = await codeFor(to);
  const fetched = await service.verifications(started.sid).fetch();
  assert.equal(fetched.status, 'pending');
  const canceled = await service.verifications(started.sid).update({ status: 'canceled' });
  assert.equal(canceled.status, 'canceled');
  await rejects(() => service.verificationChecks.create({ to, code }), 404, 20404);
});

test('creating again while pending: the same verification, sent again', async () => {
  const to = phone();
  const first = await service.verifications.create({ to, channel: 'sms' });
  // otpgate's resend cooldown (30 s) answers in Twilio's terms meanwhile.
  await rejects(() => service.verifications.create({ to, channel: 'sms' }), 429, 20429);
  await new Promise((resolve) => setTimeout(resolve, 31_000));
  const again = await service.verifications.create({ to, channel: 'sms' });
  assert.equal(again.sid, first.sid);
  assert.equal(again.sendCodeAttempts.length, 2);
  const approved = await service.verificationChecks.create({ to, code: await codeFor(to) });
  assert.equal(approved.status, 'approved');
});

test("Twilio's codes for a bad To, a disabled channel, no target, another tenant", async () => {
  const bad = await rejects(() => service.verifications.create({ to: '12345', channel: 'sms' }), 400, 60200);
  assert.match(bad.message, /To/);
  await rejects(() => service.verifications.create({ to: phone(), channel: 'call' }), 400, 60223);
  await rejects(() => service.verificationChecks.create({ code: '123456' }), 400, 60221);
  const started = await service.verifications.create({ to: phone(), channel: 'sms' });
  const theirs = client(other.sid, other.key).verify.v2.services(started.serviceSid);
  await rejects(() => theirs.verifications(started.sid).fetch(), 404, 20404);
  await rejects(() => theirs.verificationChecks.create({ verificationSid: started.sid, code: '123456' }), 404, 20404);
});
