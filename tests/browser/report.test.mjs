// The offline HTML report in headless Chromium: it opens with every network request refused,
// renders every chart (frontier, USD per Mtok, generations, predicted vs measured, simulation
// distributions and KV over time), has no console errors, and its controls work.
//   node report.test.mjs TOKENFACTORY_BINARY ARTIFACT_DIR [MEASURED_CSV]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { check, checkCharts, launch, watchedPage } from './browser.mjs';

const [binary, artifacts, measured] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const tf = (...args) => execFileSync(binary, args, { encoding: 'utf8', maxBuffer: 256 << 20 });

// 1. The main job's report (frontier + generations), plus validation when measurements exist.
const main = path.join(artifacts, 'report.html');
const withMeasured = measured && existsSync(measured);
if (!withMeasured) console.log('note: no measured CSV (../shared absent): the validation chart is not exercised');
tf('report', '--out', main, ...(withMeasured ? ['--measured', measured] : []));
// 2. A simulation and a scenario, saved with --json and charted with --from.
const sim = path.join(artifacts, 'simulate.json');
writeFileSync(sim, tf('simulate', '--model', 'meta-llama/Llama-3.1-8B-Instruct', '--hardware', 'h100-sxm', '--rate', '20',
  '--requests', '1000', '--json'));
const scenario = path.join(artifacts, 'scenario.json');
writeFileSync(scenario, tf('simulate', '--scenario', path.join(path.dirname(new URL(import.meta.url).pathname),
  '../../examples/scenario-routers.yaml'), '--json'));
const plan = path.join(artifacts, 'plan.json');
writeFileSync(plan, tf('plan', '--model', 'llama-3.1-70b-instruct', '--hardware', 'h100-sxm,b200,mi300x',
  '--demand-output-tok-s', '200000', '--isl', '4096', '--osl', '512', '--min-tok-s-per-user', '40', '--json'));
const simReport = path.join(artifacts, 'simulate-report.html');
tf('report', '--out', simReport, '--from', `${sim},${scenario},${plan}`);

const browser = await launch();
try {
  {
    const { page, problems } = await watchedPage(browser, 'file:');
    await page.goto(pathToFileURL(main).href);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
    const charts = await checkCharts(page, 'report');
    const titles = charts.map((c) => c.title);
    for (const t of ['Throughput vs interactivity', 'Cost per million tokens vs interactivity',
      'Throughput per chip vs memory capacity x bandwidth', ...(withMeasured ? ['Predicted vs measured'] : [])])
      check(titles.includes(t), `report: missing chart '${t}' (have: ${titles.join(', ')})`);
    // The winners table names a winner, and provenance is on the page.
    const winner = await page.$eval('table.winners tr.winner td', (td) => td.textContent);
    check(/\(wins\)/.test(winner), 'report: no winner row at the target interactivity');
    check((await page.content()).includes('calibrated'), 'report: no provenance on the page');
    await page.screenshot({ path: path.join(artifacts, 'report.png'), fullPage: true });

    // Switch the frontier's y axis to per MW: the winners table re-ranks by it and the chart re-renders.
    const before = await page.$eval('table.winners', (t) => t.closest('section').querySelector('p').textContent);
    await page.selectOption('select[aria-label="y axis"]', 'mw');
    const after = await page.$eval('table.winners', (t) => t.closest('section').querySelector('p').textContent);
    check(before !== after && /per MW/.test(after), `report: y-axis switch did not re-rank (${after})`);
    // A stricter target: the winners' speeds all meet it.
    await page.fill('input[aria-label="target tok/s/user"]', '100');
    await page.dispatchEvent('input[aria-label="target tok/s/user"]', 'change');
    const heading = await page.$eval('table.winners', (t) => t.closest('section').querySelector('h3').textContent);
    check(/>= 100 tokens\/s per user/.test(heading), `report: target change not applied (${heading})`);
    const speeds = await page.$$eval('table.winners tbody tr', (rows) => rows.map((r) => r.children[4].textContent));
    for (const s of speeds) if (s !== '-') check(Number(s.replace(/,/g, '')) >= 100, `report: winner slower than target: ${s}`);
    // CSV download of the frontier chart.
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('section.card:has(#chart-1) button.csv')]);
    const csvPath = path.join(artifacts, 'frontier.csv');
    await dl.saveAs(csvPath);
    const csv = (await import('node:fs')).readFileSync(csvPath, 'utf8').split('\n');
    check(csv[0].startsWith('system,kind,output_tok_s_per_user,output_tok_s_per_mw'), `report: CSV header ${csv[0]}`);
    check(csv.length > 20, 'report: CSV has too few rows');
    await page.screenshot({ path: path.join(artifacts, 'report-per-mw.png'), fullPage: false });
    check(problems.length === 0, 'report: ' + problems.join('; '));
    await page.close();
  }
  {
    const { page, problems } = await watchedPage(browser, 'file:');
    await page.goto(pathToFileURL(simReport).href);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30000 });
    const charts = await checkCharts(page, 'simulate report');
    const titles = charts.map((c) => c.title);
    for (const t of ['Time to first token distribution', 'KV cache in use and sequences in flight over time',
      'Cost per million output tokens of each system\'s cheapest fleet'])
      check(titles.includes(t), `simulate report: missing chart '${t}'`);
    // The plan: its winner named, one fleet row per system with its provenance.
    const lede = await page.$eval('section[data-schema="tokenfactory.plan/1"] p.lede', (p) => p.textContent);
    check(/the cheapest fleet is \d[\d,]* x \S+/.test(lede), `simulate report: plan summary '${lede}'`);
    const fleets = await page.$$eval('section[data-schema="tokenfactory.plan/1"] table.data tbody tr',
      (rows) => rows.map((r) => r.lastElementChild.textContent));
    check(fleets.length === 3 && fleets.every((t) => /calibrated|inherited|default|pooled|anchors/.test(t)),
      `simulate report: plan fleet rows ${JSON.stringify(fleets)}`);
    // The scenario: its variants side by side, then each variant's charts.
    const variants = await page.$$eval('section[data-schema="tokenfactory.scenario/1"] table.data tbody tr', (rows) => rows.length);
    check(variants >= 2, `simulate report: scenario variants table has ${variants} rows`);
    const kvCharts = titles.filter((t) => t.startsWith('KV cache in use')).length;
    check(kvCharts === 1 + variants, `simulate report: ${kvCharts} KV charts for 1 simulation and ${variants} variants`);
    await page.screenshot({ path: path.join(artifacts, 'simulate-report.png'), fullPage: true });
    check(problems.length === 0, 'simulate report: ' + problems.join('; '));
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(`ok: report pages render offline; screenshots in ${artifacts}`);
