import { defineConfig, devices } from '@playwright/test';

// scripts/test builds and starts the server itself and passes its address and a
// test API key in OTPGATE_BASE_URL / OTPGATE_TEST_KEY, so there is no webServer block.
const baseURL = process.env.OTPGATE_BASE_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  testDir: './tests',
  // Debug WASM is large and the machine has 2 cores: allow time for hydration.
  timeout: 60_000,
  expect: { timeout: 20_000 },
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: 1,
  reporter: [['list'], ['json', { outputFile: 'playwright-report/results.json' }]],
  use: {
    baseURL,
    headless: true,
    trace: 'retain-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        // Playwright cannot download its own browsers here: use Debian's Chromium.
        // The flags keep it from dialling out (the network is closed) and let it run as root.
        launchOptions: {
          executablePath: '/usr/bin/chromium',
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
            '--disable-quic',
          ],
        },
      },
    },
  ],
});
