// Drives the status page in headless Chromium (Debian's /usr/bin/chromium):
// signs in with a token through the form, loads every page, fails on any console error or
// failed request, checks the map and requeues a dead notification from its page.
// Usage: node status-page.mjs BASE_URL ORG_TOKEN OPERATOR_TOKEN OUT_DIR DEAD_ID
import { chromium } from 'playwright-core';

const [base, orgToken, operatorToken, outDir, deadId] = process.argv.slice(2);
const problems = [];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless=new'],
});

async function session(token, name) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`${name}: console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`${name}: page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`${name}: request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) problems.push(`${name}: HTTP ${r.status()} ${r.url()}`); });
  await page.goto(`${base}/`);
  if (!page.url().endsWith('/login')) problems.push(`${name}: not sent to the sign-in form: ${page.url()}`);
  await page.fill('input[name=token]', token);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  return page;
}

async function shot(page, file) {
  await page.screenshot({ path: `${outDir}/${file}`, fullPage: true });
}

const results = {};
// Operator: the overview with the instance's tasks.
const op = await session(operatorToken, 'operator');
results.operatorTasks = await op.locator('h2', { hasText: 'Supervised tasks' }).count();
await shot(op, 'overview-operator.png');

// Organisation: every page.
const org = await session(orgToken, 'organisation');
await shot(org, 'overview.png');
results.chart = await org.locator('#events-chart').count();
await org.goto(`${base}/map`);
results.areas = await org.locator('#map path.area').count();
results.vessels = await org.locator('#map circle.vessel').count();
await shot(org, 'map.png');
await org.goto(`${base}/events`);
results.events = await org.locator('table tbody tr').count();
await shot(org, 'events.png');
await org.goto(`${base}/notifications`);
results.notifications = await org.locator('a.notification').count();
await shot(org, 'notifications.png');
await org.goto(`${base}/notifications/${deadId}`);
results.before = (await org.locator('#state').textContent())?.trim();
await shot(org, 'notification-dead.png');
await Promise.all([org.waitForNavigation(), org.click('#requeue')]);
results.after = (await org.locator('#state').textContent())?.trim();
await shot(org, 'notification-requeued.png');

await browser.close();
console.log(JSON.stringify({ results, problems }));
process.exit(problems.length === 0 ? 0 : 1);
