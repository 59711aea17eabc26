// A browser's own EventSource against a relay's Server-Sent Events
// (t/63-sse.bats): Debian's chromium, headless, opens
// /api/stream/{M} on the stack's origin; the relay serving it is killed
// mid-reply, and the browser must reconnect by itself with Last-Event-ID and
// end with every chunk exactly once. Environment: API, STACK_DIR,
// RELAY_BASE, RELAYS.
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const { API, STACK_DIR, RELAY_BASE, RELAYS } = process.env;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'];

function check(cond, msg) { if (!cond) throw new Error(msg); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const words = (n) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

function sctl(...args) {
  return execFileSync('supervisorctl', ['-c', `${STACK_DIR}/etc/supervisord.conf`, ...args])
    .toString().trim();
}

async function json(path) { return (await fetch(`${API}${path}`)).json(); }

async function post(session, message) {
  const r = await fetch(`${API}/api/chat`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ session_id: session, message, user_id: 'tester' }),
  });
  check(r.status === 202, `POST /api/chat: ${r.status}`);
  return (await r.json()).message_id;
}

// the relay holding an HTTP stream now
async function streamingRelay() {
  for (let p = Number(RELAY_BASE); p < Number(RELAY_BASE) + Number(RELAYS); p++) {
    const h = await (await fetch(`http://127.0.0.1:${p}/health`)).json().catch(() => ({}));
    if (h.streams > 0) return p;
  }
  return null;
}

// Runs in the page: one EventSource, everything it sees kept on window.es.
function listen(url) {
  const seen = { events: [], opens: 0, errors: 0, end: null };
  const es = new EventSource(url);
  es.onopen = () => { seen.opens++; };
  es.onerror = () => { seen.errors++; };
  es.onmessage = (e) => { seen.events.push({ id: e.lastEventId, ...JSON.parse(e.data) }); };
  es.addEventListener('end', (e) => { seen.end = JSON.parse(e.data); es.close(); });
  window.es = seen;
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(e.message));
  // any page of the site: the stream must be same-origin
  await page.goto(`${API}/api/health`);
  const mid = await post('es1', words(200));
  await page.evaluate(listen, `/api/stream/${mid}?user_id=tester`);
  await page.waitForFunction(() => window.es.events.length >= 30, null, { timeout: 30000 });
  const victim = await streamingRelay();
  check(victim, 'no relay holds the stream');
  execFileSync('kill', ['-9', sctl('pid', `ws-relay:ws-relay-${victim}`)]);
  const before = await page.evaluate(() => window.es.events.length);
  await page.waitForFunction(() => window.es.end !== null, null, { timeout: 60000 });
  const seen = await page.evaluate(() => window.es);
  const history = await json(`/api/history/es1?user_id=tester`);
  const last = history.messages[history.messages.length - 1];
  const n = seen.end.total_chunks;
  check(seen.end.status === 'complete', `end status ${seen.end.status}`);
  check(seen.events.length === n, `${seen.events.length} events for ${n} chunks`);
  seen.events.forEach((e, i) => {
    check(e.index === i && e.id === String(i), `event ${i} is chunk ${e.index} (id ${e.id})`);
  });
  check(seen.events.map((e) => e.content).join('') === last.content, 'the text differs from the history');
  check(seen.opens >= 2 && seen.errors >= 1, `opens ${seen.opens}, errors ${seen.errors}: no reconnect`);
  check(problems.length === 0, problems.join('; '));
  console.log(`# ${n} chunks, ${before} before relay ${victim} was killed; ` +
    `the browser reconnected ${seen.opens - 1} time(s)`);
  // supervisord brings the relay back before the next test
  for (let t = 0; t < 150 && !(await fetch(`http://127.0.0.1:${victim}/health`).catch(() => null)); t++)
    await sleep(100);
} finally {
  await browser.close();
}
