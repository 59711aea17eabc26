// The page's sidebar from GET /api/sessions (issue 22): conversations begun
// in one browser show in another, a fresh one (a second "device": no
// localStorage of the first), and a delete there removes the conversation
// from the server and from the sidebars. Environment: API, TOKEN (one
// user's token, given to both browsers by ?token=).
import { chromium } from 'playwright-core';

const { API, TOKEN } = process.env;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];

function check(cond, msg) { if (!cond) throw new Error(msg); }

async function device(browser) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 720 } });
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  await page.goto(`${API}/?token=${TOKEN}`);
  await page.waitForFunction(() => document.getElementById('connection').dataset.state === 'connected');
  return page;
}

const titles = (page) => page.$$eval('#conversations li button:not(.delete)', (bs) => bs.map((b) => b.textContent));

async function showsTitles(page, want, present = true) {
  await page.waitForFunction(([w, p]) => {
    const have = [...document.querySelectorAll('#conversations li button:not(.delete)')]
      .map((b) => b.textContent);
    return w.every((t) => have.includes(t) === p);
  }, [want, present], { timeout: 30000 });
}

async function say(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  await page.waitForFunction((t) => {
    const all = window.streamchat.messages();
    const r = all[all.length - 1];
    return all.some((m) => m.role === 'user' && m.text === t) && r.role === 'assistant' &&
      r.status === 'complete' && document.getElementById('send').dataset.mode === 'send';
  }, text, { timeout: 60000 });
}

async function serverList() {
  const r = await fetch(`${API}/api/sessions`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  check(r.ok, `GET /api/sessions: ${r.status}`);
  return (await r.json()).sessions;
}

async function waitListed(n) {
  for (let i = 0; i < 300; i++) {
    if ((await serverList()).length >= n) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`the archive never listed ${n} conversations`);
}

let step = 'start';
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
try {
  // the first device: two conversations
  step = 'first device';
  const one = await device(browser);
  await say(one, 'first device, first conversation');
  await one.click('#new-chat');
  await one.waitForFunction(() => document.getElementById('connection').dataset.state === 'connected');
  await say(one, 'first device, second conversation');
  await waitListed(2);

  // the second device knows nothing locally, and shows both
  step = 'second device shows both';
  const two = await device(browser);
  await showsTitles(two, ['first device, first conversation', 'first device, second conversation']);
  // it opens the first, whose messages come from the server
  step = 'second device opens one';
  await two.click('#conversations li button:has-text("first device, first conversation")');
  await two.waitForFunction(() => window.streamchat.messages()
    .some((m) => m.role === 'user' && m.text === 'first device, first conversation'), null,
  { timeout: 30000 });
  const opened = await two.evaluate(() => window.streamchat.session());

  step = 'delete';
  // and deletes the second: gone from its sidebar, from the server, and
  // from the first device's sidebar once it reloads
  const del = two.locator('#conversations li', { hasText: 'first device, second conversation' })
    .locator('button.delete');
  await del.click();
  await showsTitles(two, ['first device, second conversation'], false);
  const left = (await serverList()).map((s) => s.title);
  check(!left.includes('first device, second conversation'), `still listed: ${left}`);
  check(left.includes('first device, first conversation'), `the other one is gone too: ${left}`);
  check(await two.evaluate(() => window.streamchat.session()) === opened,
    'deleting another conversation keeps the one on screen');
  step = 'first device reloads';
  await one.reload();
  await showsTitles(one, ['first device, second conversation'], false);
  await showsTitles(one, ['first device, first conversation']);
  const all = [...one.problems, ...two.problems];
  check(all.length === 0, all.join('; '));
  console.log(`titles on the second device: ${JSON.stringify(await titles(two))}`);
} catch (e) {
  console.error(`sessions (${step}): ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
