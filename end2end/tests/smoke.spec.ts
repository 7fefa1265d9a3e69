import { test, expect } from '@playwright/test';

const testKey = process.env.OTPGATE_TEST_KEY ?? '';

test('home page hydrates and the health check server function answers', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto('/');
  // Clicking before hydration does nothing, so wait for the app to mark itself hydrated.
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  await page.locator('#health-check').click();
  await expect(page.locator('#health-result')).toContainText('otpgate is up');
  expect(errors, 'uncaught errors in the page').toEqual([]);
});

test('API: send an email code, read it from the test outbox, verify it', async ({ request }) => {
  test.skip(!testKey, 'OTPGATE_TEST_KEY is not set (scripts/test sets it)');
  const headers = { 'X-API-Key': testKey };
  const email = `e2e-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;

  const send = await request.post('/api/v1/otp/send', {
    headers,
    data: { channels: ['email'], recipients: { email } },
  });
  expect(send.status(), await send.text()).toBe(200);
  const { session_token: token } = await send.json();
  expect(typeof token).toBe('string');

  const outbox = await request.get(`/api/v1/test/messages?to=${encodeURIComponent(email)}`, { headers });
  expect(outbox.status(), await outbox.text()).toBe(200);
  const messages = await outbox.json();
  expect(messages.length).toBeGreaterThan(0);
  expect(messages[0].channel).toBe('email');
  const code: string = messages[0].code;
  expect(code).toMatch(/^\d{6}$/);

  const verify = await request.post('/api/v1/otp/verify', {
    headers,
    data: { session_token: token, otps: { email: code } },
  });
  expect(verify.status(), await verify.text()).toBe(200);
  const verified = await verify.json();
  expect(verified.verified).toBe(true);
  expect(verified.session_verified).toBe(true);
  expect(verified.verified_channels).toEqual(['email']);

  const status = await request.post('/api/v1/otp/status', { headers, data: { session_token: token } });
  expect(status.status(), await status.text()).toBe(200);
  expect((await status.json()).status).toBe('verified');
});

test('API: a request without a key is refused', async ({ request }) => {
  const res = await request.post('/api/v1/otp/status', { data: { session_token: 'x' } });
  expect(res.status()).toBe(401);
  expect(await res.json()).toMatchObject({ code: 'unauthenticated' });
});
