// The web app in headless Chromium against a real `tokenfactory serve` on a free loopback port:
// the page loads its catalogs from the API, draws the frontier, and changing a control (the
// output length, the systems) recomputes and redraws it; no console errors, no request leaves
// the server's origin. A fleet plan for a demand is drawn on request; with measured results
// (serve --measured, from ../shared when present) so is predicted vs measured.
//   node app.test.mjs TOKENFACTORY_BINARY ARTIFACT_DIR [MEASURED_CSV]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import { check, checkCharts, launch, watchedPage } from './browser.mjs';

const [binary, artifacts, measured] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const withMeasured = measured && existsSync(measured);
if (!withMeasured) console.log('note: no measured CSV (../shared absent): the validation view is not exercised');

// Sanitizer builds compute several times slower: a request may take minutes (validation
// predicts every measured row), so the server's own limit is raised.
const server = spawn(binary, ['serve', '--port', '0', '--request-timeout', '240',
  ...(withMeasured ? ['--measured', measured] : [])],
  { stdio: ['ignore', 'pipe', 'inherit'] });
const origin = await new Promise((resolve, reject) => {
  let text = '';
  const timer = setTimeout(() => { server.kill('SIGTERM'); reject(new Error('serve did not print its address in 60 s')); }, 60000);
  server.stdout.on('data', (d) => {
    text += d;
    const m = text.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
    if (m) { clearTimeout(timer); resolve(`http://127.0.0.1:${m[1]}`); }
  });
  server.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
});

const browser = await launch();
try {
  const { page, problems } = await watchedPage(browser, origin);
  await page.goto(origin + '/');
  await page.waitForSelector('body[data-generation="1"]', { timeout: 60000 });
  await checkCharts(page, 'app');
  const title1 = await page.$eval('#tf-results h2', (h) => h.textContent);
  check(/1024 in \/ 1024 out/.test(title1), `app: first frontier title ${title1}`);
  const systems1 = await page.$$eval('table.winners tbody tr', (rows) => rows.length);
  check(systems1 === 6, `app: expected the 6 default systems, got ${systems1}`);
  await page.screenshot({ path: path.join(artifacts, 'app.png'), fullPage: false });

  // Change the output length: the engine recomputes and the page redraws with the new workload.
  await page.fill('input[aria-label="output tokens"]', '4096');
  await page.dispatchEvent('input[aria-label="output tokens"]', 'change');
  await page.waitForSelector('body[data-generation="2"]', { timeout: 60000 });
  const title2 = await page.$eval('#tf-results h2', (h) => h.textContent);
  check(/1024 in \/ 4096 out/.test(title2), `app: frontier not recomputed for osl 4096 (${title2})`);
  await checkCharts(page, 'app after a change');

  // Two systems only.
  await page.selectOption('select[aria-label="systems"]', ['h100-sxm', 'b200']);
  await page.waitForSelector('body[data-generation="3"]', { timeout: 60000 });
  const systems3 = await page.$$eval('table.winners tbody tr', (rows) => rows.map((r) => r.children[0].textContent));
  check(systems3.length === 2, `app: expected 2 systems after the change, got ${systems3.join(', ')}`);
  await page.screenshot({ path: path.join(artifacts, 'app-changed.png'), fullPage: true });

  // A simulation of one deployment, drawn below: its latency histograms and KV over time.
  await page.click('#tf-sim-controls button');
  await page.waitForSelector('body[data-simulations="1"], #tf-sim-status.error', { timeout: 120000 });
  const simStatus = await page.$eval('#tf-sim-status', (s) => s.textContent);
  check(await page.$('body[data-simulations="1"]'), `app: the simulation failed: ${simStatus}`);
  const simTitles = await page.$$eval('#tf-sim-results .tf-chart', (els) => els.map((e) => e.dataset.title));
  check(simTitles.includes('KV cache in use and sequences in flight over time'), `app: simulation charts ${simTitles.join(', ')}`);
  await checkCharts(page, 'app after a simulation');
  await page.screenshot({ path: path.join(artifacts, 'app-simulation.png'), fullPage: true });
  // A fleet plan for the demand over the two systems: the cheapest first, one row per system.
  await page.fill('input[aria-label="demand output tokens/s"]', '100000');
  await page.click('#tf-plan-controls button');
  await page.waitForSelector('body[data-plans="1"], #tf-plan-status.error', { timeout: 120000 });
  const planStatus = await page.$eval('#tf-plan-status', (s) => s.textContent);
  check(await page.$('body[data-plans="1"]'), `app: the plan failed: ${planStatus}`);
  const planLede = await page.$eval('#tf-plan-results p.lede', (p) => p.textContent);
  check(/the cheapest fleet is \d[\d,]* x \S+/.test(planLede), `app: plan summary '${planLede}'`);
  const planRows = await page.$$eval('#tf-plan-results table.data tbody tr', (rows) => rows.map((r) => r.children[0].textContent));
  check(planRows.length === 2, `app: plan rows ${planRows.join(', ')}`);
  const planTitles = await page.$$eval('#tf-plan-results .tf-chart', (els) => els.map((e) => e.dataset.title));
  check(planTitles.some((t) => t.startsWith('Cost per million output tokens')), `app: plan charts ${planTitles.join(', ')}`);
  await checkCharts(page, 'app after a plan');
  await page.screenshot({ path: path.join(artifacts, 'app-plan.png'), fullPage: true });
  await (await page.$('#tf-plan-results')).screenshot({ path: path.join(artifacts, 'app-plan-view.png') });
  // Predicted vs measured on the server's measured file, when it has one.
  const valStatus0 = await page.$eval('#tf-val-status', (s) => s.textContent);
  if (withMeasured) {
    await page.click('#tf-val-controls button');
    await page.waitForSelector('body[data-validated="true"], #tf-val-status.error', { timeout: 250000 });
    const valStatus = await page.$eval('#tf-val-status', (s) => s.textContent);
    check(await page.$('body[data-validated="true"]'), `app: validation failed: ${valStatus}`);
    const valTitles = await page.$$eval('#tf-val-results .tf-chart', (els) => els.map((e) => e.dataset.title));
    check(valTitles.includes('Predicted vs measured'), `app: validation charts ${valTitles.join(', ')}`);
    await checkCharts(page, 'app after validation');
    await page.screenshot({ path: path.join(artifacts, 'app-validate.png'), fullPage: true });
    await (await page.$('#tf-val-results')).screenshot({ path: path.join(artifacts, 'app-validate-view.png') });
  } else {
    check(/no measured results/.test(valStatus0), `app: validation status without a measured file: ${valStatus0}`);
  }

  // An impossible input shows the API's message instead of a chart.
  await page.fill('input[aria-label="input tokens"]', '0');
  await page.dispatchEvent('input[aria-label="input tokens"]', 'change');
  await page.waitForSelector('#tf-status.error', { timeout: 30000 });
  const err = await page.$eval('#tf-status', (s) => s.textContent);
  check(/isl/.test(err), `app: error message does not name the input (${err})`);
  // The failed request shows in the console as a 400 resource error, which is expected here.
  const unexpected = problems.filter((p) => !/status of 400/.test(p));
  check(unexpected.length === 0, 'app: ' + unexpected.join('; '));
} finally {
  await browser.close();
  server.kill('SIGTERM');
}
console.log(`ok: the web app recomputes the frontier when a control changes; screenshots in ${artifacts}`);
