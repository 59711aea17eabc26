// Browser tests of share/www: playwright-core drives Debian's chromium,
// headless, against the stack t/90-browser.bats started. One scenario per
// run: node t/browser/chat.mjs SCENARIO. Environment: API (the stack's
// http://127.0.0.1:PORT), STACK_DIR, ROOT, SHOTS (where screenshots go).
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const { API, STACK_DIR, ROOT, SHOTS } = process.env;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];

function fail(msg) { throw new Error(msg); }
function check(cond, msg) { if (!cond) fail(msg); }

function words(n) { return Array.from({ length: n }, (_, i) => `w${i}`).join(' '); }

// the built-in generator's reply to a prompt, which is always the same
function expected(prompt) {
  return execFileSync(`${ROOT}/bin/ai-streamer`, ['--once', prompt],
    { env: { ...process.env, TOKEN_DELAY_MS: '0' } }).toString().replace(/\n$/, '');
}

function sctl(...args) {
  return execFileSync('supervisorctl', ['-c', `${STACK_DIR}/etc/supervisord.conf`, ...args])
    .toString().trim();
}

async function open(browser, path = '/', wait = true) {
  const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // a reload or a killed relay closes the socket: that is expected noise
    if (m.type() === 'error' && !/WebSocket|ERR_CONNECTION|net::/.test(m.text()))
      page.problems.push(`console: ${m.text()}`);
  });
  page.on('dialog', (d) => { page.problems.push(`dialog: ${d.message()}`); d.dismiss(); });
  await page.goto(`${API}${path}`);
  if (wait) await connected(page);
  return page;
}

const connected = (page) =>
  page.waitForFunction(() => document.getElementById('connection').dataset.state === 'connected');

const messages = (page) => page.evaluate(() => window.streamchat.messages());

async function lastReply(page) {
  const all = await messages(page);
  return all.filter((m) => m.role === 'assistant').pop();
}

// types text and presses Enter; returns once the question and its reply
// are on the page (a short reply may already have ended)
async function send(page, text) {
  const before = (await messages(page)).length;
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
  await page.waitForFunction((n) => window.streamchat.messages().length >= n + 2, before);
}

// waits until the last reply has at least n characters and is still streaming
async function midStream(page, n) {
  await page.waitForFunction((min) => {
    const r = window.streamchat.messages().filter((m) => m.role === 'assistant').pop();
    return r && r.status === 'streaming' && r.text.length >= min;
  }, n, { timeout: 20000 });
}

async function ended(page, status = 'complete') {
  await page.waitForFunction((st) => {
    const r = window.streamchat.messages().filter((m) => m.role === 'assistant').pop();
    return r && r.status === st && document.getElementById('send').dataset.mode === 'send';
  }, status, { timeout: 60000 });
}

async function shot(page, name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: `${SHOTS}/${name}.png` });
}

function noProblems(page) {
  check(page.problems.length === 0, page.problems.join('; '));
}

const scenarios = {
  // Enter sends, Shift+Enter is a new line; the reply streams in; the stop
  // button turns back into send
  async stream(browser) {
    const page = await open(browser);
    await page.fill('#input', 'first line');
    await page.press('#input', 'Shift+Enter');
    await page.type('#input', 'second line');
    check((await page.inputValue('#input')) === 'first line\nsecond line', 'Shift+Enter makes a new line');
    check((await messages(page)).length === 0, 'Shift+Enter sent nothing');
    const prompt = words(60);
    await send(page, prompt);
    await page.waitForFunction(() => document.getElementById('send').textContent === 'Stop');
    check((await page.inputValue('#input')) === '', 'the input was emptied');
    await midStream(page, 40);
    const partial = (await lastReply(page)).text;
    await shot(page, 'mid-stream');
    await ended(page);
    const reply = await lastReply(page);
    const want = expected(prompt);
    check(partial.length < want.length, 'the reply was seen before it was whole');
    check(reply.text === want, `the reply is the generator's: got ${JSON.stringify(reply.text.slice(0, 80))}`);
    check((await page.textContent('#send')) === 'Send', 'the stop button became send again');
    const shown = await page.textContent('.msg.assistant .body');
    check(shown.includes(want.split(' ').slice(0, 3).join(' ')), 'the reply is on the screen');
    await shot(page, 'after');
    noProblems(page);
  },

  // a reload in the middle of a reply shows the whole reply afterwards, once
  async reload(browser) {
    const page = await open(browser);
    const prompt = words(150);
    await send(page, prompt);
    await midStream(page, 30);
    const session = await page.evaluate(() => window.streamchat.session());
    const id = (await lastReply(page)).id;
    await page.reload();
    await connected(page);
    check((await page.evaluate(() => window.streamchat.session())) === session,
      'the reload returned to the same conversation');
    await ended(page);
    const replies = (await messages(page)).filter((m) => m.role === 'assistant');
    check(replies.filter((m) => m.id === id).length === 1, 'the reply is shown once');
    check(replies.find((m) => m.id === id).text === expected(prompt), 'the reply is whole');
    const users = (await messages(page)).filter((m) => m.role === 'user');
    check(users.length === 1 && users[0].text === prompt, 'the question is shown once');
    noProblems(page);
  },

  // kill -9 of the relay serving the page: reconnecting, then the whole reply
  async kill(browser) {
    const page = await open(browser);
    const prompt = words(150);
    await send(page, prompt);
    await midStream(page, 30);
    const node = await page.evaluate(() => window.streamchat.nodeId);
    const before = await page.evaluate(() => window.streamchat.states.length);
    const pid = sctl('pid', `ws-relay:ws-relay-${node.replace(/^ws-/, '')}`);
    check(/^[0-9]+$/.test(pid), `no pid for relay ${node}: ${pid}`);
    process.kill(Number(pid), 'SIGKILL');
    await page.waitForFunction((n) => window.streamchat.states.slice(n).includes('reconnecting'),
      before, { timeout: 10000 });
    await ended(page);
    const reply = await lastReply(page);
    check(reply.text === expected(prompt), 'the reply is whole, with no hole or repeat');
    const states = await page.evaluate((n) => window.streamchat.states.slice(n), before);
    check(states.join(' ').includes('reconnecting connected'), `states: ${states.join(' ')}`);
    const after = await page.evaluate(() => window.streamchat.nodeId);
    console.log(`# relay ${node} killed; reconnected to ${after}; states ${states.join(' ')}; ` +
      `repeats dropped ${await page.evaluate(() => window.streamchat.duplicates)}; ` +
      `reconnect frames sent ${await page.evaluate(() => window.streamchat.fills)}`);
    noProblems(page);
  },

  // stop: the reply ends, marked stopped, and the history agrees
  async stop(browser) {
    const page = await open(browser);
    await send(page, words(150));
    await midStream(page, 30);
    await page.click('#send');
    await ended(page, 'cancelled');
    const reply = await lastReply(page);
    check((await page.textContent('.msg.assistant .status')) === 'stopped', 'the reply is marked stopped');
    check((await page.textContent('#send')) === 'Send', 'the stop button became send again');
    const session = await page.evaluate(() => window.streamchat.session());
    const user = await page.evaluate(() => localStorage.getItem('streamchat.user'));
    const h = await (await fetch(`${API}/api/history/${session}?user_id=${user}`)).json();
    const item = h.messages.find((m) => m.message_id === reply.id);
    check(item && item.status === 'cancelled', `the history says ${item && item.status}`);
    check(item.content === reply.text, 'the history has the text the page shows');
    check(reply.text.length < expected(words(150)).length, 'the reply was cut short');
    noProblems(page);
  },

  // markup in a message is shown as text, never run
  async markup(browser) {
    const page = await open(browser);
    const evil = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> **hi** `code`';
    await send(page, evil);
    await ended(page);
    const user = await page.textContent('.msg.user .body');
    check(user.includes('<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'),
      `the message is shown as typed: ${user}`);
    check((await page.locator('.messages img, .messages script, .messages b').count()) === 0,
      'no element was made from the text');
    check((await page.locator('.msg.user code').textContent()) === 'code', 'inline code is rendered');
    check(await page.evaluate(() => window.__pwned === undefined), 'nothing ran');
    const reply = await lastReply(page);
    check(reply.text === expected(evil), 'the reply is whole');
    // the same rendering for both sides: lists and fenced code become
    // elements, what is inside them stays text
    const md = 'Steps:\n- one <b>\n- two\n\n```\nif (a < b) { run(); }\n```\nafter';
    await send(page, md);
    await ended(page);
    const last = page.locator('.msg.user').last();
    check((await last.locator('ul > li').count()) === 2, 'a list is a list');
    check((await last.locator('ul > li').first().textContent()) === 'one <b>', 'list items are text');
    check((await last.locator('pre > code').textContent()) === 'if (a < b) { run(); }', 'a fenced block is code');
    check((await last.locator('p').count()) === 2, 'the lines around them are paragraphs');
    noProblems(page);
  },

  // conversations: a new chat, the list, switching back; a phone-sized screen
  async conversations(browser) {
    const page = await open(browser);
    await send(page, 'the first conversation');
    await ended(page);
    const first = await page.evaluate(() => window.streamchat.session());
    await page.click('#new-chat');
    await connected(page);
    const second = await page.evaluate(() => window.streamchat.session());
    check(second !== first && (await messages(page)).length === 0, 'a new chat starts empty');
    await send(page, 'the second one');
    await ended(page);
    await page.click('#conversations button:has-text("the first conversation")');
    await page.waitForFunction((id) => window.streamchat.session() === id &&
      window.streamchat.messages().length === 2, first);
    check((await messages(page))[0].text === 'the first conversation', 'switching back shows its history');
    await page.setViewportSize({ width: 375, height: 700 });
    check(await page.isVisible('#toggle-sidebar'), 'a phone-sized screen has a Chats button');
    // the sidebar slides away (a short transition)
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().right <= 0,
      null, { timeout: 5000 });
    await shot(page, 'phone');
    await page.click('#toggle-sidebar');
    await page.waitForFunction(() => document.getElementById('sidebar').getBoundingClientRect().x >= 0);
    await shot(page, 'phone-chats');
    noProblems(page);
  },

  // with AUTH_SECRET: no token, the sign-in field, ?token=, an expired token
  async auth(browser) {
    const { TOKEN, EXPIRED } = process.env;
    let page = await open(browser, '/', false);
    await page.waitForSelector('#signin:not([hidden])');
    check((await page.getAttribute('#connection', 'data-state')) === 'refused', 'no token: refused');
    await page.fill('#token-input', TOKEN);
    await page.click('#signin button');
    await connected(page);
    const prompt = 'signed in';
    await send(page, prompt);
    await ended(page);
    check((await lastReply(page)).text === expected(prompt), 'the reply came with the token');
    await page.close();

    page = await open(browser, `/?token=${TOKEN}`);
    check(!page.url().includes('token='), 'the token is taken out of the address bar');
    await send(page, 'from the link');
    await ended(page);
    await page.close();

    page = await open(browser, `/?token=${EXPIRED}`, false);
    await page.waitForSelector('#signin:not([hidden])');
    const why = await page.textContent('#signin-reason');
    check(/expired/.test(why), `the page says why: ${why}`);
    noProblems(page);
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`usage: chat.mjs ${Object.keys(scenarios).join('|')}`);
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
