// Shared set-up of the browser tests: headless Debian Chromium driven by playwright-core
// (web/node_modules), every request outside the page's own origin refused, console errors and
// page errors collected. Exit code 77 (ctest SKIP_RETURN_CODE) when Chromium is not installed.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../../web/package.json'));

export const CHROMIUM = process.env.TF_CHROMIUM || '/usr/bin/chromium';

export async function launch() {
  if (!existsSync(CHROMIUM)) {
    console.log(`SKIP: ${CHROMIUM} not found (install Debian's chromium: bash scripts/setup.sh)`);
    process.exit(77);
  }
  const { chromium } = require('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A page that records problems: console errors, uncaught exceptions and any request that would
// leave `allowedOrigin` (file: for the report; the app's loopback origin for the web app).
export async function watchedPage(browser, allowedOrigin) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(allowedOrigin) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    problems.push('network request outside the page: ' + url);
    return route.abort();
  });
  return { page, problems };
}

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

// Every chart container has rendered, holds a drawn canvas and has data points.
export async function checkCharts(page, label) {
  const charts = await page.$$eval('.tf-chart', (els) => els.map((e) => {
    const c = e.querySelector('canvas');
    return { id: e.id, title: e.dataset.title, rendered: e.dataset.rendered === 'true', points: Number(e.dataset.points || 0),
      canvas: c ? { w: c.width, h: c.height } : null };
  }));
  check(charts.length > 0, `${label}: no chart on the page`);
  for (const c of charts) {
    check(c.rendered, `${label}: chart '${c.title}' did not render`);
    check(c.canvas && c.canvas.w > 100 && c.canvas.h > 100, `${label}: chart '${c.title}' has no drawn canvas`);
    check(c.points > 0, `${label}: chart '${c.title}' has no data points`);
  }
  const errors = await page.evaluate(() => (window.TF && window.TF.state.errors) || ['window.TF missing']);
  check(errors.length === 0, `${label}: render errors: ${errors.join('; ')}`);
  return charts;
}
