// What a person's browser really downloads for the verification page, and how long until the
// widget is usable, measured in headless Chromium through the DevTools protocol:
//   - bytes on the wire (Network.loadingFinished encodedDataLength: compressed bodies plus
//     headers), cold (empty cache) and warm (a second page in the same browser context, as when
//     the person opens a later verification link);
//   - navigation start to hydrated (`html[data-hydrated]`), on loopback and on an emulated slow
//     mobile profile: 1.6 Mbit/s down, 750 kbit/s up, 150 ms round trip, CPU slowed 4x;
//   - navigation start to the first contentful paint, and the page's JS heap once hydrated
//     (used and total, from the DevTools Performance domain; WebAssembly memory is not in it);
//   - for calibration, the first paint of a blank page (a `data:` URL, nothing to fetch) in a
//     fresh context: what this browser on this machine needs before any page of ours.
// Usage: node transfer.mjs RUNS URL [URL...]   (one verification URL per run and profile, plus
// one per warm revisit: at least 2 * RUNS * 2 URLs). Prints JSON.
import { chromium } from '@playwright/test';

const [runsArg, ...urls] = process.argv.slice(2);
const runs = Number(runsArg);
if (!runs || urls.length < runs * 4) {
  console.error('usage: node transfer.mjs RUNS URL... (at least 4 * RUNS URLs)');
  process.exit(2);
}

const PROFILES = {
  loopback: null,
  slow_mobile: { latency: 150, downloadThroughput: (1.6e6 / 8), uploadThroughput: (750e3 / 8), cpu: 4 },
};

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});

/** Loads `url` in `page` and returns { bytes, requests, hydrated_ms, fcp_ms, heap_used, heap_total, files }. */
async function load(context, page, url, profile) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  if (profile) {
    await cdp.send('Network.emulateNetworkConditions', {
      offline: false,
      latency: profile.latency,
      downloadThroughput: profile.downloadThroughput,
      uploadThroughput: profile.uploadThroughput,
    });
    await cdp.send('Emulation.setCPUThrottlingRate', { rate: profile.cpu });
  }
  const urlsById = new Map();
  const files = [];
  let bytes = 0;
  cdp.on('Network.requestWillBeSent', (e) => urlsById.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => {
    bytes += e.encodedDataLength;
    files.push({ path: new URL(urlsById.get(e.requestId) ?? 'about:blank').pathname, bytes: e.encodedDataLength });
  });
  await page.goto(url, { waitUntil: 'commit' });
  await page.waitForSelector('html[data-hydrated="true"]', { timeout: 120_000 });
  const hydrated = await page.evaluate(() => performance.now());
  const fcp = await page.evaluate(() =>
    performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null);
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const metric = (name) => metrics.find((m) => m.name === name)?.value ?? null;
  // Late requests (the favicon) still count as what a person downloads.
  await page.waitForLoadState('networkidle');
  await cdp.detach();
  return {
    bytes,
    requests: files.length,
    hydrated_ms: Math.round(hydrated),
    fcp_ms: fcp === null ? null : Math.round(fcp),
    heap_used: metric('JSHeapUsedSize'),
    heap_total: metric('JSHeapTotalSize'),
    files,
  };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const results = {};
const blank = [];
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto('data:text/html,<!doctype html><title>blank</title><p>blank</p>');
  const fcp = await page.waitForFunction(() =>
    performance.getEntriesByName('first-contentful-paint')[0]?.startTime);
  blank.push(Math.round(await fcp.jsonValue()));
  await context.close();
}
results.blank_page_fcp_ms = median(blank);
let next = 0;
for (const [name, profile] of Object.entries(PROFILES)) {
  const cold = [];
  const warm = [];
  for (let i = 0; i < runs; i++) {
    // A fresh context: an empty cache, as for a person opening their first link.
    const context = await browser.newContext();
    const page = await context.newPage();
    cold.push(await load(context, page, urls[next++], profile));
    // The same context on another session's page: what a later visit downloads.
    const again = await context.newPage();
    warm.push(await load(context, again, urls[next++], profile));
    await context.close();
  }
  results[name] = {
    cold_bytes: median(cold.map((r) => r.bytes)),
    warm_bytes: median(warm.map((r) => r.bytes)),
    cold_hydrated_ms: median(cold.map((r) => r.hydrated_ms)),
    cold_hydrated_max_ms: Math.max(...cold.map((r) => r.hydrated_ms)),
    warm_hydrated_ms: median(warm.map((r) => r.hydrated_ms)),
    cold_fcp_ms: median(cold.map((r) => r.fcp_ms)),
    js_heap_used: median(cold.map((r) => r.heap_used)),
    js_heap_total: median(cold.map((r) => r.heap_total)),
    cold_files: cold[0].files,
    warm_files: warm[0].files,
  };
}
await browser.close();
console.log(JSON.stringify({ runs, ...results }, null, 2));
