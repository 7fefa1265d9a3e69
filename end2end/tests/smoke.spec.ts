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

test('first minute: the start page links the demo, the outbox and the reference', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('#demo-link')).toHaveAttribute('href', '/demo');
  await page.locator('#demo-link').click();
  await expect(page).toHaveURL(/\/demo$/);
  await expect(page.locator('h1')).toHaveText('Demo');
  await expect(page.locator('#demo-submit')).toHaveText('Send codes');
});

test('first minute: the development outbox shows the messages and their codes', async ({ page, request }) => {
  test.skip(!testKey, 'OTPGATE_TEST_KEY is not set (scripts/test sets it)');
  const email = `outbox-${Date.now()}@example.com`;
  const send = await request.post('/api/v1/otp/send', {
    headers: { 'X-API-Key': testKey },
    data: { channels: ['email'], recipients: { email } },
  });
  expect(send.status(), await send.text()).toBe(200);
  const messages = await (await request.get(`/api/v1/test/messages?to=${encodeURIComponent(email)}`, {
    headers: { 'X-API-Key': testKey },
  })).json();
  const code: string = messages[0].code;
  await page.goto('/dev/outbox');
  await expect(page.locator('h1')).toHaveText('Development outbox');
  await expect(page.locator('main')).not.toContainText('unavailable');
  const row = page.locator('tr', { hasText: email });
  await expect(row).toHaveCount(1);
  await expect(row.locator('td.code')).toHaveText(code);
});

test('first minute: the API reference lists every endpoint of the OpenAPI document', async ({ page, request }) => {
  const document = await (await request.get('/api/openapi.json')).json();
  await page.goto('/docs/api');
  await expect(page.locator('h1')).toHaveText('API reference');
  const headings = await page.locator('section.endpoint h2').allInnerTexts();
  const shown = headings.map((h) => h.replace(/\s+/g, ' ').trim());
  const expected: string[] = [];
  for (const [path, operations] of Object.entries(document.paths as Record<string, object>)) {
    for (const method of Object.keys(operations)) expected.push(`${method.toUpperCase()} ${path}`);
  }
  expect(expected.length).toBeGreaterThanOrEqual(9);
  for (const endpoint of expected) expect(shown).toContain(endpoint);
});

test('the widget files travel under hashed names, cached for good', async ({ page }) => {
  const files: { url: string; encoding?: string; cache?: string }[] = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname.startsWith('/pkg/')) {
      const headers = response.headers();
      files.push({ url: response.url(), encoding: headers['content-encoding'], cache: headers['cache-control'] });
    }
  });
  await page.goto('/');
  await expect(page.locator('html[data-hydrated="true"]')).toHaveCount(1);
  const names = files.map((f) => new URL(f.url).pathname);
  expect(names.some((n) => /^\/pkg\/otpgate\.[A-Za-z0-9_-]{10,}\.wasm$/.test(n)), names.join(', ')).toBe(true);
  expect(names.some((n) => /^\/pkg\/otpgate\.[A-Za-z0-9_-]{10,}\.js$/.test(n)), names.join(', ')).toBe(true);
  for (const file of files) expect(file.cache, file.url).toBe('public, max-age=31536000, immutable');
});
