// streamchat's page: one WebSocket for the conversation on screen, the /api
// for sending and stopping, GET /api/sessions for the list of conversations
// (localStorage when the server keeps none).
//
// The connection is held as doc/protocol.md's guarantees allow: after any drop
// it reconnects with backoff and jitter (at once after 1001), takes the
// history frame as the truth, asks with `reconnect` for what follows the last
// chunk it has, places chunks by (messageId, index) and drops repeats, and
// fills a hole before it shows anything past it. Text is always set with
// textContent: nothing a user or a model writes is ever parsed as HTML.
// After UNREACHABLE_AFTER failed connections in a row it says the server is
// unreachable (and goes on trying); a reply that another tab started comes
// with its question, read from the history (doc/protocol.md).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const ui = {
    sidebar: $('sidebar'), list: $('conversations'), newChat: $('new-chat'),
    toggle: $('toggle-sidebar'), title: $('title'), connection: $('connection'),
    signin: $('signin'), signinReason: $('signin-reason'), tokenInput: $('token-input'),
    notice: $('notice'), messages: $('messages'), composer: $('composer'),
    input: $('input'), send: $('send'),
  };

  // What tests and the curious can read: the connection's states in order,
  // the relay serving the page, and how many repeated chunks were dropped.
  const debug = {
    states: [], nodeId: null, duplicates: 0, fills: 0,
    messages: () => messages.map((m) => ({ id: m.id, role: m.role, status: m.status, text: m.text })),
    session: () => current,
  };
  window.streamchat = debug;

  const store = {
    get(k) { try { return localStorage.getItem(k); } catch { return null; } },
    set(k, v) { try { localStorage.setItem(k, v); } catch { /* private mode */ } },
  };
  const ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

  function newId(prefix) {
    const b = new Uint8Array(8);
    crypto.getRandomValues(b);
    return prefix + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // --- who we are: a token (from ?token= or the sign-in form), or in
  // development mode a user id of our own
  let token = '';
  {
    const params = new URLSearchParams(location.search);
    const t = params.get('token');
    if (t) {
      sessionStorage.setItem('streamchat.token', t);
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
    }
    token = sessionStorage.getItem('streamchat.token') || '';
  }
  let userId = store.get('streamchat.user');
  if (!userId || !ID_RE.test(userId)) {
    userId = newId('web-');
    store.set('streamchat.user', userId);
  }

  function authHeaders(h) {
    if (token) h.Authorization = 'Bearer ' + token;
    return h;
  }

  // --- conversations: [{id, title}], newest first
  let conversations = [];
  try {
    conversations = JSON.parse(store.get('streamchat.conversations') || '[]')
      .filter((c) => c && ID_RE.test(c.id) && typeof c.title === 'string');
  } catch { conversations = []; }
  let current = store.get('streamchat.current');
  if (!current || !conversations.some((c) => c.id === current)) {
    current = conversations.length ? conversations[0].id : addConversation();
  }

  function addConversation() {
    const id = newId('web-');
    conversations.unshift({ id, title: 'New chat' });
    saveConversations();
    return id;
  }

  function saveConversations() {
    store.set('streamchat.conversations', JSON.stringify(conversations.slice(0, 100)));
    store.set('streamchat.current', current || '');
  }

  function setTitle(id, text) {
    const c = conversations.find((x) => x.id === id);
    if (!c || c.title !== 'New chat') return;
    c.title = text.replace(/\s+/g, ' ').trim().slice(0, 60) || 'New chat';
    saveConversations();
    renderConversations();
  }

  function renderConversations() {
    ui.list.replaceChildren();
    for (const c of conversations) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = c.title;
      b.title = c.title;
      if (c.id === current) b.setAttribute('aria-current', 'true');
      b.addEventListener('click', () => switchTo(c.id));
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'delete';
      del.textContent = '\u00d7';
      del.title = 'Delete';
      del.setAttribute('aria-label', `Delete ${c.title}`);
      del.addEventListener('click', () => deleteConversation(c.id));
      li.append(b, del);
      ui.list.append(li);
    }
    const cur = conversations.find((x) => x.id === current);
    ui.title.textContent = cur ? cur.title : 'streamchat';
  }

  // --- the server's list of our conversations (GET /api/sessions, kept in
  // the archive), so that they follow the user to any browser. localStorage
  // stays the list while the server keeps none (no archive) or cannot
  // answer; conversations the archive does not hold yet (a new chat, one
  // just begun) stay in front of the server's.
  function userQuery(sep) {
    return token ? '' : `${sep}user_id=${encodeURIComponent(userId)}`;
  }

  // asked once the relay has taken us (a token it accepts, or development
  // mode), so that a page that must sign in first asks for nothing
  let listAsked = false;
  async function loadConversations() {
    listAsked = true;
    let r;
    try { r = await api('GET', `/api/sessions?limit=100${userQuery('&')}`); } catch { return; }
    if (!r.ok || !Array.isArray(r.body.sessions)) return;
    const fromServer = r.body.sessions
      .filter((x) => x && typeof x.session_id === 'string' && ID_RE.test(x.session_id))
      .map((x) => ({
        id: x.session_id,
        title: String(x.title || '').replace(/\s+/g, ' ').trim().slice(0, 60) || 'New chat',
      }));
    const known = new Set(fromServer.map((c) => c.id));
    const local = [];
    for (const c of conversations) {
      if (known.has(c.id)) continue;
      // the one on screen, begun here and not archived yet, has messages;
      // one deleted on another device has none
      if (c.title === 'New chat' || (c.id === current && await hasMessages(c.id))) local.push(c);
    }
    conversations = [...local, ...fromServer];
    debug.serverList = true;
    if (!conversations.some((c) => c.id === current)) {
      switchTo(conversations.length ? conversations[0].id : addConversation());
    }
    saveConversations();
    renderConversations();
  }

  async function hasMessages(id) {
    try {
      const r = await api('GET', `/api/history/${encodeURIComponent(id)}?limit=1${userQuery('&')}`);
      return !r.ok || !Array.isArray(r.body.messages) || r.body.messages.length > 0;
    } catch { return true; }
  }

  async function deleteConversation(id) {
    let r;
    try {
      r = await api('DELETE', `/api/sessions/${encodeURIComponent(id)}${userQuery('?')}`);
    } catch {
      r = { ok: false, status: 0, body: { error: { message: 'the server is unreachable' } } };
    }
    if (!r.ok && r.status !== 404) {  // 404: the server never had it
      apiFailed(r, 'Not deleted');
      return;
    }
    conversations = conversations.filter((c) => c.id !== id);
    if (id === current) switchTo(conversations.length ? conversations[0].id : addConversation());
    saveConversations();
    renderConversations();
  }

  // --- the conversation on screen. A message: {id, role, status, text,
  // last (index the text ends at), pending (chunks past a hole), end, el}
  let messages = [];
  let byId = new Map();
  let following = null;   // the reply streaming now, if any

  function isLive(m) { return m.status === 'streaming' || m.status === 'queued'; }

  function addMessage(m) {
    m.pending = m.pending || new Map();
    messages.push(m);
    if (m.id) byId.set(m.id, m);
    if (messages.length === 1) ui.messages.replaceChildren();  // the hint goes
    ui.messages.append(messageElement(m));
    scrollDown(true);
    return m;
  }

  // --- rendering: paragraphs, lists, inline code and fenced code blocks,
  // built as DOM nodes
  function inline(parent, text) {
    const parts = text.split(/`([^`\n]+)`/);
    parts.forEach((part, i) => {
      if (i % 2) {
        const code = document.createElement('code');
        code.textContent = part;
        parent.append(code);
      } else if (part) {
        parent.append(document.createTextNode(part));
      }
    });
  }

  const LIST_RE = /^\s*([-*+]|\d+[.)])\s+/;

  function renderText(el, text) {
    const lines = text.split('\n');
    const out = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (/^\s*```/.test(line)) {
        const body = [];
        i++;
        while (i < lines.length && !/^\s*```/.test(lines[i])) body.push(lines[i++]);
        i++;  // the closing fence, if it has come yet
        const pre = document.createElement('pre');
        const code = document.createElement('code');
        code.textContent = body.join('\n');
        pre.append(code);
        out.push(pre);
      } else if (LIST_RE.test(line)) {
        const ordered = /^\s*\d/.test(line);
        const list = document.createElement(ordered ? 'ol' : 'ul');
        while (i < lines.length && LIST_RE.test(lines[i])) {
          const li = document.createElement('li');
          inline(li, lines[i].replace(LIST_RE, ''));
          list.append(li);
          i++;
        }
        out.push(list);
      } else if (!line.trim()) {
        i++;
      } else {
        const para = [];
        while (i < lines.length && lines[i].trim() && !LIST_RE.test(lines[i]) &&
               !/^\s*```/.test(lines[i])) para.push(lines[i++]);
        const p = document.createElement('p');
        inline(p, para.join('\n'));
        out.push(p);
      }
    }
    el.replaceChildren(...out);
  }

  const STATUS_TEXT = {
    queued: 'waiting for a worker…', streaming: '', complete: '',
    cancelled: 'stopped', error: 'failed',
  };

  // an error's message says why (the server words it for people: "the AI
  // model is unavailable: ..."); an old history item without one, 'failed'
  function errorText(e) {
    if (e && typeof e === 'object') return typeof e.message === 'string' ? e.message : '';
    return typeof e === 'string' ? e : '';
  }

  function messageElement(m) {
    const el = document.createElement('article');
    el.className = 'msg ' + (m.role === 'user' ? 'user' : 'assistant');
    const who = document.createElement('span');
    who.className = 'visually-hidden';
    who.textContent = m.role === 'user' ? 'You said:' : 'Reply:';
    const body = document.createElement('div');
    body.className = 'body';
    const status = document.createElement('span');
    status.className = 'status';
    el.append(who, body, status);
    m.el = el;
    paint(m);
    return el;
  }

  function paint(m) {
    if (!m.el) return;
    m.el.dataset.status = m.status;
    if (m.id) m.el.dataset.messageId = m.id;
    renderText(m.el.querySelector('.body'), m.text);
    let s = STATUS_TEXT[m.status] ?? m.status;
    if (m.status === 'error' && m.error) s = m.error;
    m.el.querySelector('.status').textContent = s;
  }

  // one repaint per message per animation frame, however fast chunks come
  const dirty = new Set();
  let frameAsked = false;
  function repaint(m) {
    dirty.add(m);
    if (frameAsked) return;
    frameAsked = true;
    requestAnimationFrame(() => {
      frameAsked = false;
      const near = nearBottom();
      for (const d of dirty) paint(d);
      dirty.clear();
      scrollDown(near);
    });
  }

  function nearBottom() {
    const box = ui.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }
  function scrollDown(yes) { if (yes) ui.messages.scrollTop = ui.messages.scrollHeight; }

  // what an empty conversation shows instead of a blank area
  function hint() {
    const el = document.createElement('div');
    el.className = 'empty-hint';
    el.id = 'empty-hint';
    const head = document.createElement('p');
    head.className = 'empty-title';
    head.textContent = 'No messages yet';
    const how = document.createElement('p');
    how.textContent = 'Type a message below and press Enter: the reply appears as it is ' +
      'written, and Stop ends it. Earlier conversations are in the list of chats.';
    el.append(head, how);
    return el;
  }

  function renderAll() {
    if (messages.length) ui.messages.replaceChildren(...messages.map(messageElement));
    else ui.messages.replaceChildren(hint());
    scrollDown(true);
    updateSend();
  }

  function updateSend() {
    const live = messages.some(isLive);
    ui.send.dataset.mode = live ? 'stop' : 'send';
    ui.send.textContent = live ? 'Stop' : 'Send';
    ui.send.setAttribute('aria-label', live ? 'Stop the reply' : 'Send the message');
  }

  function notice(text) {
    ui.notice.textContent = text || '';
    ui.notice.hidden = !text;
  }

  // --- chunks, in order and once
  function onHistory(items) {
    const old = byId;
    messages = [];
    byId = new Map();
    following = null;
    for (const it of items) {
      if (!it || typeof it !== 'object') continue;
      const m = {
        id: it.message_id, role: it.role, status: it.status, text: String(it.content ?? ''),
        last: Number.isInteger(it.lastChunkIndex) ? it.lastChunkIndex : -1, pending: new Map(),
        error: errorText(it.error),
      };
      const prev = m.id && old.get(m.id);
      if (isLive(m)) {
        if (prev && prev.last > m.last) {  // what we held is ahead of the snapshot
          m.text = prev.text;
          m.last = prev.last;
        }
        if (prev) for (const [i, c] of prev.pending) if (i > m.last) m.pending.set(i, c);
        following = m.id;
      }
      messages.push(m);
      if (m.id) byId.set(m.id, m);
      if (m.role === 'user') setTitle(current, m.text);
    }
    renderAll();
    const m = following && byId.get(following);
    if (m && resumeFrom === m.id) fill(m);  // after a drop: what follows our last chunk
    resumeFrom = null;
  }

  function onChunk(id, index, content) {
    if (typeof id !== 'string' || !Number.isInteger(index) || typeof content !== 'string') return;
    let m = byId.get(id);
    if (!m) {
      m = addMessage({ id, role: 'assistant', status: 'streaming', text: '', last: -1 });
      following = id;
      updateSend();
      findQuestion(m);
    }
    if (m.status === 'queued') m.status = 'streaming';
    if (index <= m.last || m.pending.has(index)) {
      debug.duplicates++;
      return;
    }
    m.pending.set(index, content);
    while (m.pending.has(m.last + 1)) {
      m.text += m.pending.get(m.last + 1);
      m.pending.delete(m.last + 1);
      m.last++;
    }
    if (m.pending.size) fill(m);
    if (m.end && m.last >= m.end.total - 1) finish(m);
    repaint(m);
  }

  function onEnd(id, status, total, error) {
    let m = byId.get(id);
    if (!m) {
      m = addMessage({ id, role: 'assistant', status: 'streaming', text: '', last: -1 });
      findQuestion(m);
    }
    m.end = { status, total: Number.isInteger(total) ? total : m.last + 1 + m.pending.size, error };
    if (status === 'error' || m.last >= m.end.total - 1) {
      finish(m);
    } else {
      fill(m);
      // if the relay cannot fill it (the chunks expired, say), the API can
      setTimeout(() => { if (isLive(m)) fetchRest(m); }, 1500);
    }
  }

  function finish(m) {
    m.status = m.end.status;
    m.error = m.end.error;
    m.pending.clear();
    if (following === m.id) following = null;
    paint(m);
    updateSend();
  }

  function historyPath(query) {
    const q = query + (token ? '' : `&user_id=${encodeURIComponent(userId)}`);
    return `/api/history/${encodeURIComponent(current)}?${q.replace(/^&/, '')}`;
  }

  // A reply we did not ask for: another tab or device sent its question.
  // The relay sends every socket of the session the reply's frames but not
  // the question (doc/protocol.md); the history has it, just before the
  // reply. A question already on screen (ours, posted from here) is kept.
  async function findQuestion(reply) {
    const session = current;
    let h;
    try { h = await api('GET', historyPath('limit=10')); } catch { return; }
    if (!h.ok || session !== current) return;
    const items = Array.isArray(h.body.messages) ? h.body.messages : [];
    const at = items.findIndex((x) => x && x.message_id === reply.id);
    const q = at > 0 ? items[at - 1] : null;
    const where = messages.indexOf(reply);
    if (!q || q.role !== 'user' || where < 0 || byId.has(q.message_id)) return;
    const before = messages[where - 1];
    if (before && before.role === 'user' && !before.id) return;  // ours, shown already
    const m = { id: q.message_id, role: 'user', status: q.status || 'complete',
                text: String(q.content ?? ''), last: -1, pending: new Map() };
    messages.splice(where, 0, m);
    byId.set(m.id, m);
    reply.el.before(messageElement(m));
    setTitle(current, m.text);
  }

  // asks the relay for the chunks after the last one we have
  function fill(m) {
    const now = Date.now();
    if (!m.id || (m.fillAt && now - m.fillAt < 1000)) return;
    if (!send({ type: 'reconnect', messageId: m.id, lastChunkIndex: m.last })) return;
    m.fillAt = now;
    debug.fills++;
  }

  async function fetchRest(m) {
    try {
      const r = await fetch(`/api/stream/${encodeURIComponent(m.id)}?from=${m.last + 1}` +
                            (token ? '' : `&user_id=${encodeURIComponent(userId)}`),
                            { headers: authHeaders({}) });
      if (r.ok) {
        const body = await r.json();
        for (const c of body.chunks || []) onChunk(m.id, c.index, c.content);
        if (isLive(m) && m.end && m.last >= m.end.total - 1) finish(m);
      }
      if (isLive(m) && m.end) {  // expired: the history has the whole text
        const h = await api('GET', historyPath(''));
        const item = h.ok && (h.body.messages || []).find((x) => x.message_id === m.id);
        if (item) {
          m.text = item.content;
          m.end.status = item.status;
          m.end.error = errorText(item.error) || m.end.error;
          finish(m);
        }
      }
    } catch { /* the next connection's history settles it */ }
  }

  // --- the WebSocket
  let ws = null;
  let attempt = 0;
  let retryTimer = null;
  let resumeFrom = null;  // the reply we were following when the socket dropped
  let refused = false;
  const UNREACHABLE_AFTER = 3;  // failed connections in a row before saying so

  function setState(s, text) {
    if (ui.connection.dataset.state !== s) debug.states.push(s);
    ui.connection.dataset.state = s;
    ui.connection.textContent = text || s;
  }

  function send(obj) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(obj));
    return true;
  }

  function connect() {
    clearTimeout(retryTimer);
    if (refused) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    // the token rides as a subprotocol, which nginx hands the relay as a
    // header: never in a URL, so never in an access log
    const url = `${scheme}://${location.host}/ws/chat?session_id=${encodeURIComponent(current)}` +
                (token ? '' : `&user_id=${encodeURIComponent(userId)}`);
    const sock = token ? new WebSocket(url, ['chat', 'bearer.' + token]) : new WebSocket(url);
    ws = sock;
    sock.onmessage = (e) => {
      if (sock !== ws) return;
      let f;
      try { f = JSON.parse(e.data); } catch { return; }
      onFrame(f);
    };
    sock.onclose = (e) => {
      if (sock !== ws) return;  // a socket we replaced on purpose
      ws = null;
      onClose(e.code, e.reason);
    };
  }

  function onFrame(f) {
    switch (f.type) {
    case 'welcome':
      attempt = 0;
      debug.nodeId = f.nodeId;
      setState('connected');
      if (!listAsked) loadConversations();
      break;
    case 'history':
      onHistory(Array.isArray(f.messages) ? f.messages : []);
      break;
    case 'chunk':
      onChunk(f.messageId, f.index, f.content);
      break;
    case 'complete':
    case 'cancelled':
      onEnd(f.messageId, f.type, f.totalChunks);
      break;
    case 'error':
      if (f.messageId) onEnd(f.messageId, 'error', null, errorText(f) || f.code);
      else notice(f.message || 'the server reported an error');
      break;
    case 'recovery_status': {
      const m = byId.get(f.messageId);
      if (f.status === 'not_found' && m && isLive(m)) fetchRest(m);
      break;
    }
    default:
      break;
    }
  }

  function onClose(code, reason) {
    if (following) resumeFrom = following;
    if (code === 4401) {
      refused = true;
      setState('refused', 'signed out');
      ui.signinReason.textContent = token
        ? `Your token was refused (${reason || 'unauthorized'}). Paste a new one.`
        : 'This server needs a sign-in token.';
      ui.signin.hidden = false;
      ui.tokenInput.focus();
      return;
    }
    if (code === 4403) {
      refused = true;
      setState('refused', 'not yours');
      notice('This conversation belongs to another user. Start a new chat.');
      return;
    }
    if (code === 4400 || code === 1008) {
      refused = true;
      setState('refused', 'refused');
      notice(`The server refused this connection: ${reason || code}.`);
      return;
    }
    if (!navigator.onLine) {
      setState('offline');
      return;  // the online event reconnects
    }
    // a socket that never got its welcome is a failed connection: after a
    // few the server is gone (stopped, or the network), not just a relay
    if (attempt >= UNREACHABLE_AFTER) setState('unreachable', 'offline: server unreachable');
    else setState('reconnecting', 'reconnecting…');
    // a draining relay (1001) sends us elsewhere at once; anything else
    // backs off, with jitter so that a relay's clients do not return as one
    const base = code === 1001 ? 50 : Math.min(5000, 250 * 2 ** attempt);
    attempt++;
    retryTimer = setTimeout(connect, base / 2 + Math.random() * base / 2);
  }

  window.addEventListener('offline', () => setState('offline'));
  window.addEventListener('online', () => { if (!ws) { attempt = 0; connect(); } });

  function switchTo(id) {
    if (id === current && ws) return;
    current = id;
    saveConversations();
    messages = [];
    byId = new Map();
    following = null;
    resumeFrom = null;
    refused = false;
    notice('');
    renderAll();
    renderConversations();
    ui.sidebar.classList.remove('open');
    ui.toggle.setAttribute('aria-expanded', 'false');
    const old = ws;
    ws = null;
    if (old) old.close(1000, 'switching conversation');
    attempt = 0;
    setState('connecting');
    connect();
  }

  // --- the API
  async function api(method, path, body) {
    const r = await fetch(path, {
      method,
      headers: authHeaders(body ? { 'Content-Type': 'application/json' } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
    let json = {};
    try { json = await r.json(); } catch { /* an empty or non-JSON answer */ }
    return { ok: r.ok, status: r.status, body: json, retryAfter: r.headers.get('Retry-After') };
  }

  function apiFailed(r, what) {
    if (r.status === 401) {
      ui.signinReason.textContent = 'This server needs a sign-in token.';
      ui.signin.hidden = false;
      return;
    }
    const why = (r.body && r.body.error && r.body.error.message) || `HTTP ${r.status}`;
    notice(`${what}: ${why}` + (r.retryAfter ? ` (try again in ${r.retryAfter} s)` : ''));
  }

  async function sendMessage() {
    const text = ui.input.value;
    if (!text.trim() || messages.some(isLive)) return;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      notice('Not connected yet; your message is still in the box.');
      return;
    }
    notice('');
    ui.input.value = '';
    const mine = addMessage({ role: 'user', status: 'complete', text, last: -1 });
    setTitle(current, text);
    const body = { session_id: current, message: text };
    if (!token) body.user_id = userId;
    let r;
    try {
      r = await api('POST', '/api/chat', body);
    } catch {
      r = { ok: false, status: 0, body: { error: { message: 'the server is unreachable' } } };
    }
    if (!r.ok) {
      mine.status = 'error';
      mine.error = 'not sent';
      paint(mine);
      ui.input.value = text;
      apiFailed(r, 'Not sent');
      return;
    }
    const id = r.body.message_id;
    if (!byId.has(id)) addMessage({ id, role: 'assistant', status: 'queued', text: '', last: -1 });
    following = id;
    updateSend();
  }

  async function stopReply() {
    const m = messages.find(isLive);
    if (!m || !m.id) return;
    const body = { session_id: current, message_id: m.id };
    if (!token) body.user_id = userId;
    const r = await api('POST', '/api/cancel', body).catch(() => null);
    if (r && !r.ok && r.status !== 409) apiFailed(r, 'Could not stop');
  }

  // --- controls
  ui.composer.addEventListener('submit', (e) => {
    e.preventDefault();
    if (ui.send.dataset.mode === 'stop') stopReply();
    else sendMessage();
  });
  ui.input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      if (ui.send.dataset.mode === 'send') sendMessage();
    }
  });
  ui.newChat.addEventListener('click', () => {
    switchTo(addConversation());
    ui.input.focus();
  });
  ui.toggle.addEventListener('click', () => {
    const open = ui.sidebar.classList.toggle('open');
    ui.toggle.setAttribute('aria-expanded', String(open));
  });
  ui.signin.addEventListener('submit', (e) => {
    e.preventDefault();
    const t = ui.tokenInput.value.trim();
    if (!t) return;
    token = t;
    sessionStorage.setItem('streamchat.token', t);
    ui.signin.hidden = true;
    refused = false;
    attempt = 0;
    setState('connecting');
    connect();
  });

  renderConversations();
  saveConversations();
  setState('connecting');
  connect();
})();
