import { test, expect } from '@playwright/test';

// Production mode with a live key: the code travels by email through a real SMTP server
// (aiosmtpd with STARTTLS and AUTH, started by scripts/test), is read from the mail that
// arrived, typed into the widget, and the status confirms. scripts/test provides the addresses.
const prod = process.env.OTPGATE_PROD_BASE_URL ?? '';
const liveKey = process.env.OTPGATE_PROD_LIVE_KEY ?? '';
const smtpApi = process.env.OTPGATE_SMTP_API ?? '';

test.skip(!prod || !liveKey || !smtpApi, 'the production server is started by scripts/test');

test('a live key: send, the mail arrives by SMTP, the code typed into the widget verifies', async ({ page, request }) => {
  const email = `prod-${Date.now()}@example.com`;
  const headers = { 'X-API-Key': liveKey };
  const send = await request.post(`${prod}/api/v1/otp/send`, {
    headers,
    data: { channels: ['email'], recipients: { email } },
  });
  expect(send.status(), await send.text()).toBe(200);
  const sent = await send.json();
  expect(sent.deliveries.email.status).toBe('queued');

  // The worker hands it to the SMTP server at once; the mail is read there, not from otpgate.
  const arrived = await request.get(`${smtpApi}/messages/wait?to=${encodeURIComponent(email)}&timeout=30`, {
    timeout: 40_000,
  });
  expect(arrived.status()).toBe(200);
  const mail = await arrived.json();
  expect(mail.tls).toBe(true);
  const code = /^(\d{6}) is your prod code$/.exec(mail.subject)?.[1] ?? '';
  expect(code, mail.subject).toMatch(/^\d{6}$/);
  expect(mail.html).toContain('dir="ltr"');

  await page.goto(`${prod}/verify/${sent.session_token}`);
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  await expect(page.locator('section.otp-card[data-channel="email"] .otp-delivery')).toHaveText(/Sent|Delivered/);
  await page.getByLabel('Email code').fill(code);
  await expect(page.locator('section.otp-card[data-channel="email"]')).toHaveAttribute('data-state', 'verified');
  await expect(page.locator('#otp-success')).toBeVisible();

  const status = await request.post(`${prod}/api/v1/otp/status`, {
    headers,
    data: { session_token: sent.session_token },
  });
  const body = await status.json();
  expect(body.status).toBe('verified');
  expect(body.deliveries.email.status).toBe('sent');
});

test('the test outbox refuses a live key', async ({ request }) => {
  const res = await request.get(`${prod}/api/v1/test/messages?to=a@example.com`, { headers: { 'X-API-Key': liveKey } });
  expect(res.status()).toBe(403);
});
