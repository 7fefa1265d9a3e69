// Measures, in headless Chromium on loopback, how fast the verification page is usable:
// first contentful paint (server-rendered HTML, before any WASM) and navigation start to
// hydrated (`html[data-hydrated]`). Usage: node hydration.mjs URL [RUNS]. Prints JSON.
import { chromium } from '@playwright/test';

const [url, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 7);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const samples = [];
for (let i = 0; i < runs; i++) {
  // A fresh context each time: nothing cached, as for a person opening the link.
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(url, { waitUntil: 'commit' });
  await page.waitForSelector('html[data-hydrated="true"]', { timeout: 30_000 });
  const timing = await page.evaluate(() => {
    const paint = performance.getEntriesByName('first-contentful-paint')[0];
    return { fcp: paint ? paint.startTime : null, hydrated: performance.now() };
  });
  samples.push(timing);
  await context.close();
}
await browser.close();
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
console.log(JSON.stringify({
  runs,
  first_contentful_paint_ms: Math.round(median(samples.map((s) => s.fcp ?? NaN))),
  hydrated_ms: Math.round(median(samples.map((s) => s.hydrated))),
  hydrated_max_ms: Math.round(Math.max(...samples.map((s) => s.hydrated))),
}));
