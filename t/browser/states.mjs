// The page's states in a real browser (t/92-browser-states.bats): the hint
// of an empty conversation, a second tab on the same conversation, an AI
// model that is unavailable (live and reloaded from history), and the stack
// gone. One scenario per run: node t/browser/states.mjs SCENARIO.
// Environment: API, STACK_DIR, ROOT, SHOTS.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const { API, STACK_DIR, ROOT, SHOTS } = process.env;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];

function check(cond, msg) { if (!cond) throw new Error(msg); }

async function open(context) {
  const page = await context.newPage();
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // sockets closed by a stopped stack are expected noise
    if (m.type() === 'error' && !/WebSocket|ERR_CONNECTION|net::|Failed to load resource/.test(m.text()))
      page.problems.push(`console: ${m.text()}`);
  });
  await page.goto(`${API}/`);
  await connected(page);
  return page;
}

const connected = (page) =>
  page.waitForFunction(() => document.getElementById('connection').dataset.state === 'connected');
const messages = (page) => page.evaluate(() => window.streamchat.messages());

async function send(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

// the last reply has ended with this status (the send button is back)
async function ended(page, status) {
  await page.waitForFunction((st) => {
    const r = window.streamchat.messages().filter((m) => m.role === 'assistant').pop();
    return r && r.status === st && document.getElementById('send').dataset.mode === 'send';
  }, status, { timeout: 60000 });
}

async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

function noProblems(page) { check(page.problems.length === 0, page.problems.join('; ')); }

const scenarios = {
  // a new conversation says what to do instead of showing a blank area
  async hint(browser) {
    const page = await open(await browser.newContext());
    const hint = page.locator('#messages #empty-hint');
    check(await hint.isVisible(), 'an empty conversation shows a hint');
    check(/Type a message/.test(await hint.textContent()), `the hint: ${await hint.textContent()}`);
    await shot(page, 'empty-hint');
    await send(page, 'hello');
    await ended(page, 'complete');
    check((await page.locator('#empty-hint').count()) === 0, 'the hint goes with the first message');
    await page.click('#new-chat');
    await connected(page);
    check(await page.locator('#messages #empty-hint').isVisible(), 'a new chat shows the hint again');
    noProblems(page);
  },

  // two tabs on one conversation: the one that did not send shows the
  // question too, before its reply, once; the sender shows it once
  async tabs(browser) {
    const context = await browser.newContext();
    const a = await open(context);
    const b = await open(context);
    const session = await a.evaluate(() => window.streamchat.session());
    check(await b.evaluate(() => window.streamchat.session()) === session, 'both tabs on one conversation');
    const question = 'asked in the first tab';
    await send(a, question);
    await ended(a, 'complete');
    await ended(b, 'complete');
    await b.waitForFunction((q) => window.streamchat.messages().some((m) => m.role === 'user' && m.text === q),
      question, { timeout: 10000 });
    for (const [name, page] of [['the sending tab', a], ['the other tab', b]]) {
      const all = await messages(page);
      check(all.length === 2, `${name} shows ${all.length} messages: ${JSON.stringify(all)}`);
      check(all[0].role === 'user' && all[0].text === question, `${name} shows the question first`);
      check(all[1].role === 'assistant' && all[1].text.length > 0, `${name} shows the reply after it`);
    }
    const shown = await b.locator('.msg.user .body').allTextContents();
    check(shown.length === 1 && shown[0] === question, `the other tab's screen: ${shown}`);
    await shot(b, 'second-tab');
    noProblems(a);
    noProblems(b);
  },

  // the AI server is down: the reply says that the model is unavailable,
  // not curl's words, and says so again when reloaded from the history
  async unavailable(browser) {
    const page = await open(await browser.newContext());
    await send(page, 'is the model there?');
    await ended(page, 'error');
    const live = await page.textContent('.msg.assistant .status');
    check(/the AI model is unavailable/.test(live), `the error says: ${live}`);
    check(!/Couldn't connect|^failed/.test(live), `the error is not curl's or bare: ${live}`);
    await page.reload();
    await connected(page);
    await ended(page, 'error');
    const reloaded = await page.textContent('.msg.assistant .status');
    check(reloaded === live, `reloaded from history it says "${reloaded}", live it said "${live}"`);
    await shot(page, 'model-unavailable');
    noProblems(page);
  },

  // the stack stopped: a few failed reconnects, then "server unreachable",
  // not "reconnecting..." for ever
  async offline(browser) {
    const page = await open(await browser.newContext());
    const before = await page.evaluate(() => window.streamchat.states.length);
    execFileSync(`${ROOT}/bin/chatctl`, ['down', '--dir', STACK_DIR], { stdio: 'ignore' });
    await page.waitForFunction(() => document.getElementById('connection').dataset.state === 'unreachable',
      null, { timeout: 30000 });
    const text = await page.textContent('#connection');
    check(/server unreachable/.test(text), `the indicator says: ${text}`);
    const states = await page.evaluate((n) => window.streamchat.states.slice(n), before);
    check(states[0] === 'reconnecting', `it tried again first: ${states.join(' ')}`);
    await shot(page, 'offline');
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`usage: states.mjs ${Object.keys(scenarios).join('|')}`);
  process.exit(100);
}
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
try {
  await scenarios[name](browser);
} catch (e) {
  console.error(`${name}: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
