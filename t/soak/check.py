#!/usr/bin/env python3
"""The soak's invariant checker: reads a run directory (the clients' frames,
the faults, the Redis snapshot taken after the clients left, the memory
samples) and prints every violation, then the event log around the first.

  check.py RUNDIR

Invariants, for every socket and every reply:
  - no chunk frame twice on one socket, nor one the socket already gave as
    history text or the client said it held (URL resume); an end frame at
    most once; chunks of a reply in index order without a hole (except
    after a reconnect frame, whose replay may follow live chunks); an end
    frame only after every chunk before it (after a reconnect frame, until
    its recovery_status: after every chunk the history text had given, as
    the relay may have sent it before it read the frame; the chunks the
    replay owes must then have come by the recovery_status);
  - every chunk frame and every history text agrees with the reply's chunk
    list, and what each client assembled equals the final history text;
  - every accepted POST has its reply in the history once, a refused POST
    left nothing; every reply ended, within END_BOUND_S of the last fault;
    a cancelled reply ended within CANCEL_BOUND_S unless a worker or Redis
    fault was in the way;
  - history and chunk lists agree (text, count, status);
  - once the clients left: no socket, session or subscription on a relay,
    nothing in the registry, no lease or job pending, every key of a
    known kind and every volatile key with a TTL no longer than its own;
  - the stack's PostgreSQL archive holds every message of every history,
    with the history's text and status, and the archive stream is empty;
  - each process's RSS within RSS_SLACK_KB of its first sample.
Exit status 1 when anything was violated."""
import json
import os
import re
import sys
from collections import defaultdict

CANCEL_BOUND_S = 4.0
RSS_SLACK_KB = 4096
INF = float("inf")
FINAL = ("complete", "cancelled", "error")
# how long a fault keeps disturbing what it hit, past its own end (ms)
AFTERMATH_MS = {"kill9": 5000, "cont": 5000, "redis_restarted": 3000, "upstream_ok": 9000,
                "started": 1000, "pubsub_kill": 1000, "cut": 500, "host_stall": 3000}


class Violation:
    def __init__(self, t, kind, what, s=None, c=None, m=None, sess=None, relay=None):
        self.t, self.kind, self.what, self.s, self.c, self.m = t, kind, what, s, c, m
        self.sess, self.relay = sess, relay   # a session that leaked, and where


class Run:
    def __init__(self, d):
        self.dir = d
        self.meta = json.load(open(os.path.join(d, "meta.json")))
        self.events = load_jsonl(os.path.join(d, "clients.jsonl"))
        self.faults = load_jsonl(os.path.join(d, "faults.jsonl"))
        self.rss = load_jsonl(os.path.join(d, "rss.jsonl"))
        self.scan = json.load(open(os.path.join(d, "scan.json")))
        self.env = {k: int(v) for k, v in self.meta.get("env", {}).items() if str(v).isdigit()}
        self.t0 = self.meta["chaos_start"]
        self.v = []
        keys = self.scan["keys"]
        self.chunks = {session_named(k): v["value"] for k, v in keys.items()
                       if k.startswith("stream:chunks:{") and v["type"] == "list"}
        self.metas = {session_named(k): v["value"] for k, v in keys.items()
                      if k.startswith("stream:meta:{") and v["type"] == "hash"}
        self.history = {}   # mid -> (session, item)
        self.hist_lists = {}
        for k, v in keys.items():
            if k.startswith("chat:history:{") and v["type"] == "list":
                sess = session_named(k)
                items = [json.loads(x) for x in v["value"]]
                self.hist_lists[sess] = items
                for it in items:
                    self.history.setdefault(it["message_id"], (sess, it))

    def add(self, t, kind, what, **kw):
        self.v.append(Violation(t, kind, what, **kw))

    def rel(self, t):
        return (t - self.t0) / 1000.0

    def windows(self, targets):
        """[(start, end)] in ms of the faults that hit any of targets (prefixes)."""
        out, open_ = [], {}
        for f in self.faults:
            tgt = f.get("target") or ""
            if not any(tgt.startswith(p) for p in targets):
                continue
            kind = f["fault"]
            if kind in ("stop", "upstream", "drain", "redis_restart"):
                open_[(tgt, kind)] = f["t"]
            elif kind in ("cont", "upstream_ok", "started", "redis_restarted"):
                start_kind = {"cont": "stop", "upstream_ok": "upstream", "started": "drain",
                              "redis_restarted": "redis_restart"}[kind]
                start = open_.pop((tgt, start_kind), f["t"])
                out.append((start, f["t"] + AFTERMATH_MS.get(kind, 1000)))
            elif kind in ("kill9", "pubsub_kill", "cut"):
                out.append((f["t"], f["t"] + AFTERMATH_MS[kind]))
            elif kind == "host_stall":
                out.append((f["since"], f["t"] + AFTERMATH_MS[kind]))
        out += [(s, INF) for s in open_.values()]
        return out

    def hit(self, windows, a, b):
        return any(s <= b and e >= a for s, e in windows)


def load_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass  # a line cut short by a killed writer
    return out


# --- per socket ---------------------------------------------------------

class SockState:
    def __init__(self, s, c):
        self.s, self.c = s, c
        self.frames = defaultdict(set)   # mid -> chunk indices received as frames
        self.text = {}                   # mid -> last index given as history text (INF: ended)
        self.declared = {}               # mid -> last index the client said it held
        self.url_mid = None
        self.frame_resumed = set()
        self.ended = {}                  # mid -> an end frame came (since the last resume)
        self.resuming = {}               # mid -> history text it had before a reconnect not yet answered
        self.early_end = {}              # mid -> (t, status, n) of an end frame that came meanwhile

    def covered(self, mid):
        """The highest index this socket has delivered or been told is held."""
        hi = max(self.frames[mid]) if self.frames[mid] else -1
        return max(hi, self.text.get(mid, -1), self.declared.get(mid, -1))

    def has_all(self, mid, n, text=-1):
        got = self.frames[mid]
        base = max(self.text.get(mid, -1), self.declared.get(mid, -1), text)
        return all(i <= base or i in got for i in range(n))


def check_sockets(run):
    socks = {}
    pieces, prefixes, finals = [], [], []
    for e in run.events:
        s = e.get("s")
        ev = e.get("e")
        if ev == "open":
            st = socks[s] = SockState(s, e["c"])
            if e.get("resume"):
                mid, last = e["resume"]
                st.url_mid, st.declared[mid] = mid, last
            continue
        st = socks.get(s)
        if st is None:
            continue
        if ev == "send" and e.get("what") == "reconnect":
            mid = e["m"]
            st.declared[mid] = e["last"]
            st.resuming[mid] = max(st.resuming.get(mid, -1), st.text.pop(mid, -1))
            st.frame_resumed.add(mid)
            st.ended.pop(mid, None)
            continue
        if ev != "f":
            continue
        ty, t = e["ty"], e["t"]
        if ty == "recovery":
            # the relay has read the reconnect frame and replayed: an end
            # frame that came before this must now have every chunk
            mid = e.get("m")
            st.resuming.pop(mid, None)
            early = st.early_end.pop(mid, None)
            if early and e.get("st") == "recovered" and not st.has_all(mid, early[2]):
                missing = [i for i in range(early[2]) if not st.has_all(mid, i + 1)][:5]
                run.add(t, "hole", f"end frame of {mid} ({early[1]}, {early[2]} chunks) came before the "
                        f"replay, and by its recovery_status chunks {missing}... never reached this socket",
                        s=s, c=e["c"], m=mid)
        elif ty == "history":
            for mid, status, last, content in e["items"]:
                if mid == st.url_mid:
                    continue  # the URL's replay governs this reply on this socket
                if status == "streaming":
                    st.text[mid] = last if last is not None else -1
                    prefixes.append((mid, st.text[mid], content, t, s, e["c"]))
                elif status in FINAL:
                    st.text[mid] = INF
                    st.ended[mid] = "history"
                    finals.append((mid, status, content, t, s, e["c"]))
        elif ty == "chunk":
            mid, i = e["m"], e["i"]
            pieces.append((mid, i, e["x"], t, s, e["c"]))
            if i in st.frames[mid]:
                run.add(t, "duplicate", f"chunk {i} of {mid} twice on one socket", s=s, c=e["c"], m=mid)
            elif i <= st.text.get(mid, -1):
                run.add(t, "duplicate", f"chunk {i} of {mid} after the history frame gave it"
                        f" ({'the reply ended' if st.text[mid] == INF else 'text through ' + str(st.text[mid])})",
                        s=s, c=e["c"], m=mid)
            elif mid == st.url_mid and mid not in st.frame_resumed and i <= st.declared.get(mid, -1):
                run.add(t, "duplicate", f"chunk {i} of {mid} that the client held (resumed by URL after "
                        f"{st.declared[mid]})", s=s, c=e["c"], m=mid)
            elif mid not in st.frame_resumed and i != st.covered(mid) + 1:
                run.add(t, "order", f"chunk {i} of {mid} where {st.covered(mid) + 1} was due"
                        " (a hole or disorder on one socket)", s=s, c=e["c"], m=mid)
            st.frames[mid].add(i)
        elif ty == "end":
            mid, n = e["m"], e.get("n")
            if st.ended.get(mid):
                run.add(t, "duplicate", f"end frame of {mid} ({e['st']}) after "
                        f"{'the history frame showed it ended' if st.ended[mid] == 'history' else 'another end frame'}",
                        s=s, c=e["c"], m=mid)
            st.ended[mid] = "frame"
            if n is None:
                n = len(run.chunks.get(mid, []))
            if mid in st.resuming:
                # sent, maybe, before the relay read the reconnect frame: the
                # history text counts, and the replay may follow
                if st.has_all(mid, n, st.resuming[mid]):
                    st.early_end[mid] = (t, e["st"], n)
                    continue
            if not st.has_all(mid, n):
                missing = [i for i in range(n) if not st.has_all(mid, i + 1)][:5]
                run.add(t, "hole", f"end frame of {mid} ({e['st']}, {n} chunks) but chunks {missing}... "
                        "never reached this socket", s=s, c=e["c"], m=mid)
    return pieces, prefixes, finals


def check_texts(run, pieces, prefixes, finals):
    """Every chunk and history text a socket got agrees with Redis."""
    for mid, i, x, t, s, c in pieces:
        lst = run.chunks.get(mid)
        if lst is None:
            run.add(t, "content", f"chunk {i} of {mid} received, but the reply has no chunk list", s=s, c=c, m=mid)
        elif i >= len(lst) or lst[i] != x:
            run.add(t, "content", f"chunk {i} of {mid} is {x!r}, the chunk list has "
                    f"{lst[i] if i < len(lst) else 'no such index'!r}", s=s, c=c, m=mid)
    for mid, last, content, t, s, c in prefixes:
        lst = run.chunks.get(mid)
        if lst is not None and "".join(lst[:last + 1]) != content:
            run.add(t, "content", f"history text of {mid} through chunk {last} differs from its chunks",
                    s=s, c=c, m=mid)
    for mid, status, content, t, s, c in finals:
        h = run.history.get(mid)
        if h and (h[1]["content"] != content or h[1]["status"] != status):
            run.add(t, "content", f"history frame's {mid} ({status}) differs from the final history", s=s, c=c, m=mid)


def first_diff(a, b):
    n = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"first difference at character {n}: client {a[n:n + 30]!r} vs history {b[n:n + 30]!r}"


def check_views(run):
    for e in run.events:
        if e.get("e") == "gave_up":
            run.add(e["t"], "unfinished", f"{e['c']} did not have reply {e['m']} whole by the end bound "
                    f"(through chunk {e.get('have')})", c=e["c"], m=e["m"])
        if e.get("e") != "done":
            continue
        h = run.history.get(e["m"])
        if not h:
            run.add(e["t"], "lost", f"{e['c']} finished reply {e['m']}, which is not in the history", c=e["c"], m=e["m"])
            continue
        item = h[1]
        if e["text"] != item["content"]:
            run.add(e["t"], "text", f"{e['c']} ({e['v']}, {e['how']}) assembled a text of {len(e['text'])} "
                    f"characters for {e['m']}, the history has {len(item['content'])}: "
                    + first_diff(e["text"], item["content"]), c=e["c"], m=e["m"])
        if e["st"] != item["status"]:
            run.add(e["t"], "text", f"{e['c']} saw {e['m']} end {e['st']}, the history says {item['status']}",
                    c=e["c"], m=e["m"])


def check_replies(run):
    quiet = run.meta["quiet_at"]
    # a machine too busy to run anything for a while stops the clock
    stalled = sum(f["dur"] for f in run.faults if f["fault"] == "host_stall" and f["t"] > quiet) * 1000
    bound = quiet + run.meta["end_bound_s"] * 1000 + stalled
    posts = defaultdict(lambda: [0, 0])   # session -> [accepted, outcome unknown]
    for e in run.events:
        if e.get("e") != "post":
            continue
        sess = e["sess"]
        if e["status"] == 202:
            posts[sess][0] += 1
            if run.metas.get(e["m"], {}).get("status") not in FINAL and e["m"] in run.metas:
                continue  # it never ended: reported as unfinished, with where its job is
            h = run.history.get(e["m"])
            n = sum(1 for it in run.hist_lists.get(sess, []) if it["message_id"] == e["m"])
            if not h or n != 1:
                run.add(e["t"], "lost", f"accepted POST {e['m']} has {n} replies in the history of {sess}",
                        c=e["c"], m=e["m"])
        elif e["status"] is None or e["status"] >= 500:
            posts[sess][1] += 1
        elif e["status"] != 409 and e["status"] != 503:
            run.add(e["t"], "api", f"POST in {sess} answered {e['status']} {e.get('code')}", c=e["c"])
    for sess, (ok, unknown) in posts.items():
        users = sum(1 for it in run.hist_lists.get(sess, []) if it["role"] == "user")
        if not ok <= users <= ok + unknown:
            run.add(run.meta["settled"], "lost", f"session {sess}: {users} user messages in the history "
                    f"for {ok} accepted POSTs (and {unknown} unanswered)")
    for sess, items in run.hist_lists.items():
        ids = [it["message_id"] for it in items]
        for mid in {m for m in ids if ids.count(m) > 1}:
            run.add(run.meta["settled"], "history", f"{mid} is {ids.count(mid)} times in the history of {sess}", m=mid)
    for mid, meta in run.metas.items():
        st = meta.get("status")
        if st not in FINAL:
            # dated at its last sign of life, where the faults that stopped it are
            seen = [e["t"] for e in run.events if e.get("m") == mid and (e.get("e") == "post" or e.get("ty") == "chunk")]
            poster = next((e["c"] for e in run.events if e.get("e") == "post" and e.get("m") == mid), None)
            last = max(seen) if seen else bound
            run.add(last, "unfinished", f"reply {mid} of {meta.get('session_id')} is still {st} after the "
                    f"clients left, with {len(run.chunks.get(mid, []))} chunks, the last seen at "
                    f"{run.rel(last):.2f}s; {job_whereabouts(run, mid)}", m=mid, c=poster)
            continue
        ended = int(meta.get("updated_at", 0))
        if ended > bound:
            run.add(ended, "unfinished", f"reply {mid} ended {(ended - quiet) / 1000:.1f}s after the last "
                    f"fault (bound {run.meta['end_bound_s']}s)", m=mid)
        h = run.history.get(mid)
        lst = run.chunks.get(mid)
        if not h:
            run.add(ended, "history", f"reply {mid} ended {st} but is not in the history", m=mid)
            continue
        if h[1]["status"] != st:
            run.add(ended, "history", f"reply {mid}: meta says {st}, history {h[1]['status']}", m=mid)
        if lst is not None:
            if "".join(lst) != h[1]["content"]:
                run.add(ended, "history", f"reply {mid}: history text and chunk list disagree: "
                        + first_diff(h[1]["content"], "".join(lst)), m=mid)
            if str(len(lst)) != str(meta.get("total_chunks")):
                run.add(ended, "history", f"reply {mid}: total_chunks {meta.get('total_chunks')}, "
                        f"chunk list {len(lst)}", m=mid)
    for mid, (sess, it) in run.history.items():
        if it["role"] == "assistant" and mid not in run.metas:
            run.add(run.meta["settled"], "history", f"reply {mid} of {sess} has no meta (expired early?)", m=mid)


def job_whereabouts(run, mid):
    """Where the reply's job is: in the jobs stream, pending, or neither."""
    entries = [eid for eid, m in run.scan.get("jobs", []) if m == mid]
    pending = [p for p in run.scan.get("pending_jobs", []) if p[0] in entries]
    first = run.scan["jobs"][0][0] if run.scan.get("jobs") else "-"
    if not entries:
        return f"its job is no longer in the jobs stream (trimmed: the stream now starts at {first}) and not pending"
    if pending:
        return "its job " + ", ".join(f"{p[0]} is pending with {p[1]}, idle {p[2]} ms, delivered {p[3]} times"
                                      for p in pending)
    return f"its job {', '.join(entries)} is in the jobs stream, not pending (acknowledged or never read)"


def unfinished(run):
    return {mid for mid, meta in run.metas.items() if meta.get("status") not in FINAL}


def check_cancels(run):
    hurdles = run.windows(["worker", "redis", "host"])
    upstream = run.windows(["upstream", "worker"])
    for e in run.events:
        if e.get("e") != "cancel":
            continue
        if e["status"] not in (200, 409, None) and e["status"] < 500:
            run.add(e["t"], "api", f"cancel of {e['m']} answered {e['status']} {e.get('code')}", c=e["c"], m=e["m"])
        if e["status"] != 200:
            continue
        meta = run.metas.get(e["m"], {})
        ended = int(meta.get("updated_at", 0)) or INF
        sent = e["sent"]
        if ended - sent > CANCEL_BOUND_S * 1000 and not run.hit(hurdles, sent - 1000, sent + CANCEL_BOUND_S * 1000):
            run.add(sent + CANCEL_BOUND_S * 1000, "cancel", f"reply {e['m']} cancelled (200) ended "
                    f"{(ended - sent) / 1000:.1f}s later ({meta.get('status')}), no worker or Redis fault meanwhile",
                    c=e["c"], m=e["m"])
        st = meta.get("status")
        if st == "error" and not run.hit(upstream, sent - 9000, ended):
            run.add(ended, "cancel", f"reply {e['m']} cancelled (200) ended as error with no upstream or "
                    "worker fault near", c=e["c"], m=e["m"])


# keys once everything has ended and every client has gone: pattern -> max TTL in ms
# (None: no TTL wanted; "gone": must not exist at all)
def key_rules(run):
    chunk_ttl = run.env.get("CHUNK_TTL_S", 300) * 1000
    return [
        (r"chat:history:\{[^}]+\}.+$", None), (r"stream:session:\{[^}]+\}.+$", None), (r"jobs:\{[^}]+\}$", None),
        (r"nodes:(ws|ai|api|recoverd|archiver)$", None), (r"archive:\{[^}]+\}$", None),
        (r"jobs:ready$", None),   # the dispatch stream: capped, not expiring
        (r"stream:(chunks|meta):\{[^}]+\}.+$", chunk_ttl),
        (r"stream:cancel:\{[^}]+\}.+$", run.env.get("CANCEL_TTL_S", 300) * 1000),
        (r"ratelimit:(chat|ws|wsaddr):\{.+\}:\d+$", 60000),
        (r"node:(ws|ai|recoverd|archiver):\{.+\}$", 10000), (r"node:api:\{.+\}$", 7 * 86400 * 1000),
        (r"stream:lock:\{[^}]+\}.+$", "gone"), (r"streams:user:\{.+\}$", "gone"),
        (r"sessions:relays:\{[^}]+\}.+$", "gone"), (r"sessions:node:\{.+\}$", "gone"),
    ]


def check_leftovers(run):
    t = run.meta["settled"]
    settle = run.meta["settle_s"]
    for port, h in run.scan["relays"].items():
        if h.get("connections") or h.get("sessions") or h.get("status") != "ok":
            held = list(run.scan["keys"].get(f"sessions:node:{{ws-{port}}}", {}).get("value") or []) or [None]
            run.add(t, "leak", f"relay {port}, {settle}s after the last client left: {json.dumps(h)}",
                    sess=held[0], relay=port)
    for ch, n in run.scan["pubsub"].items():
        run.add(t, "leak", f"channel {ch} still has {n} subscriber(s) {settle}s after the last client left",
                sess=session_named(ch))
    if run.scan["pending"] != 0:
        run.add(t, "leak", f"{run.scan['pending']} job(s) still pending in the jobs group")
    rules = [(re.compile(p), r) for p, r in key_rules(run)]
    stuck = unfinished(run)   # their keys are as they should be for a reply in flight
    stuck_sessions = {run.metas[m].get("session_id") for m in stuck}
    stale_ms = int(run.env.get("STREAM_STALE_MS", 3600000))
    for k, v in run.scan["keys"].items():
        inner = session_named(k)
        if inner in stuck or (k.startswith("stream:session:") and inner in stuck_sessions):
            continue
        if k.startswith("streams:user:"):
            members = set(v["value"][::2])
            # a reservation whose enqueue.lua never ran (its POST failed
            # between the two steps: chat-fcgi died, or Redis went away) has
            # no meta; chat-fcgi's cleanup drops it before a 429, and the key
            # lives at most STREAM_STALE_MS (doc/redis.md, "Two steps")
            never = {m for m in members if m not in run.metas}
            if members <= stuck | never:
                if never and not 0 < v["pttl"] <= stale_ms:
                    run.add(t, "key", f"{k} holds reservations never enqueued {sorted(never)} "
                            f"with TTL {v['pttl']} ms, wanted 0 < TTL <= {stale_ms} ms")
                continue
        rule = next((r for p, r in rules if p.match(k)), "unknown")
        ttl = v["pttl"]
        if rule == "unknown":
            run.add(t, "key", f"key {k} ({v['type']}) is of no known kind")
        elif rule == "gone":
            val = v["value"]
            sess = session_named(k) if k.startswith(("stream:", "sessions:relays:")) else \
                next(iter(val), None) if isinstance(val, (dict, list)) and k.startswith("sessions:") else None
            node = re.match(r"sessions:node:\{ws-(\d+)\}", k)
            run.add(t, "leak", f"{k} outlived its last socket or reply: {json.dumps(val)[:160]}", sess=sess,
                    relay=node.group(1) if node else None)
        elif rule is not None and not 0 < ttl <= rule:
            run.add(t, "key", f"{k} has TTL {ttl} ms, wanted 0 < TTL <= {rule} ms")
        if k.startswith("stream:session:{") and isinstance(v["value"], dict):
            if v["value"].get("status") in ("queued", "streaming"):
                run.add(t, "unfinished", f"{k} still says {v['value'].get('status')}")
            elif "messageId" not in v["value"]:
                run.add(t, "leak", f"{k}, claimed by a listener and never posted to, outlived its last socket: "
                        f"{json.dumps(v['value'])[:120]} (TTL {ttl} ms)", sess=inner)


def session_named(key):
    """The id a key names: after its partition's tag (stream:meta:{t}M), or
    in its braces (streams:user:{U}, ratelimit:chat:{U}:<window>)."""
    m = re.search(r"\{([^}]+)\}(.*)$", key)
    if not m:
        return None
    return m.group(2) if m.group(2) and not m.group(2).startswith(":") else m.group(1)


def check_archive(run):
    """Once settled, the archive holds every message of every history, as the
    history has it, and nothing waits in the archive stream."""
    t = run.meta["settled"]
    arch = run.scan.get("archived")
    if arch is None:
        return
    if isinstance(arch, str):
        run.add(t, "archive", f"the archive could not be read: {arch}")
        return
    backlog = sum(v.get("value") or 0 for k, v in run.scan["keys"].items()
                  if k.startswith("archive:{") and isinstance(v.get("value"), int))
    if backlog:
        run.add(t, "archive", f"{backlog} message(s) still wait in the archive stream")
    for k, v in run.scan["keys"].items():
        if not k.startswith("chat:history:{") or not isinstance(v["value"], list):
            continue
        for item in v["value"]:
            m = json.loads(item)
            got = arch.get(m["message_id"])
            if got is None:
                run.add(t, "archive", f"message {m['message_id']} of {k} is not in PostgreSQL", m=m["message_id"])
            elif got != [m["content"], m["status"]]:
                run.add(t, "archive", f"message {m['message_id']} differs in PostgreSQL: {json.dumps(got)[:120]}",
                        m=m["message_id"])


def check_memory(run):
    if run.meta.get("san"):
        return  # AddressSanitizer's quarantine keeps freed memory: RSS says nothing
    first = {}
    for r in run.rss:
        first.setdefault(r["pid"], r)
    for name, fin in run.meta.get("rss_final", {}).items():
        start = first.get(fin["pid"])
        if not start or not fin.get("kb"):
            continue
        if fin["kb"] > start["kb"] + RSS_SLACK_KB:
            run.add(run.meta["settled"], "memory", f"{name} (pid {fin['pid']}) RSS {fin['kb']} KB after the "
                    f"clients left, {start['kb']} KB at its start (slack {RSS_SLACK_KB} KB)")


def summary(run):
    ev = defaultdict(int)
    for e in run.events:
        ev[e.get("e")] += 1
        if e.get("e") == "close":
            ev[f"close {e['code']}"] += 1
    faults = defaultdict(int)
    for f in run.faults:
        faults[f["fault"]] += 1
    done = ev["done"]
    sockets = ev["open"]
    chunk = sum(1 for e in run.events if e.get("ty") == "chunk")
    closes = ", ".join(f"{k[6:]}: {n}" for k, n in sorted(ev.items()) if k.startswith("close "))
    fs = ", ".join(f"{k} {n}" for k, n in sorted(faults.items()))
    out = (f"{len(run.metas)} replies, {done} client views checked, {sockets} sockets, {chunk} chunk frames; "
           f"closes {closes}\nfaults: {fs}")
    stalls = [f["dur"] for f in run.faults if f["fault"] == "host_stall"]
    if stalls:
        out += (f"\nwarning: the machine stalled the soak {len(stalls)} time(s), {sum(stalls):.1f} s in all, "
                f"the longest {max(stalls):.1f} s: timing bounds are not judged across those stalls")
    return out


def context(run, v):
    """The event log around a violation: faults, the socket's or client's
    frames, and the server logs that name the reply."""
    lines = []
    a, b = v.t - 20000, v.t + 3000
    lines.append("faults from 20 s before to 3 s after it:")
    for f in run.faults:
        if a <= f["t"] <= b:
            rest = {k: x for k, x in f.items() if k not in ("t", "fault")}
            lines.append(f"  {run.rel(f['t']):8.2f}s {f['fault']} {json.dumps(rest)}")
    who = v.s or v.c
    if who:
        evs = [e for e in run.events if (e.get("s") == v.s if v.s else e.get("c") == v.c)]
        if v.m and not v.s:
            evs = [e for e in evs if e.get("m") in (v.m, None) or e.get("e") in ("open", "close")]
        at = next((i for i, e in enumerate(evs) if e["t"] >= v.t), len(evs))
        head = [e for e in evs[:max(0, at - 20)] if e.get("e") in ("open", "send", "close")
                or e.get("ty") in ("welcome", "history", "end", "recovery")][-12:]
        lines.append(f"events of {'socket' if v.s else 'client'} {who}: how it began, then the 20 before"
                     " and 10 after the violation:")
        for e in head + evs[max(0, at - 20):at + 10]:
            rest = {k: x for k, x in e.items() if k not in ("t", "c")}
            if "text" in rest and len(rest["text"]) > 60:
                rest["text"] = rest["text"][:60] + "..."
            if "items" in rest:
                rest["items"] = [[i[0], i[1], i[2], len(i[3])] for i in rest["items"]][-4:]
            lines.append(f"  {run.rel(e['t']):8.2f}s {json.dumps(rest, ensure_ascii=False)[:220]}")
    if v.sess:
        socks = {e["s"]: e for e in run.events if e.get("e") == "open" and e.get("sess") == v.sess}
        if v.relay:
            # those that were, or may have been (nginx, no welcome), on that relay
            node = {e["s"]: e["node"] for e in run.events if e.get("ty") == "welcome" and e["s"] in socks}
            socks = {s: e for s, e in socks.items() if node.get(s) == f"ws-{v.relay}" or
                     (s not in node and e["via"] in ("nginx", f"relay:{v.relay}"))}
        evs = [e for e in run.events if e.get("s") in socks and (e.get("e") in ("open", "close")
                                                                   or e.get("ty") in ("welcome", "end"))]
        where = f" that were (or, through nginx unwelcomed, may have been) on relay {v.relay}" if v.relay else ""
        lines.append(f"the sockets of session {v.sess}{where}: opened, welcomed, closed (the last 30 events):")
        for e in evs[-30:]:
            rest = {k: x for k, x in e.items() if k not in ("t", "c")}
            via = socks[e["s"]].get("via")
            lines.append(f"  {run.rel(e['t']):8.2f}s {via:>11} {json.dumps(rest, ensure_ascii=False)[:200]}")
        a = evs[-1]["t"] - 10000 if evs else a
        lines.append("faults in the 10 s before its last socket closed:")
        for f in run.faults:
            if evs and a <= f["t"] <= evs[-1]["t"] + 1000:
                rest = {k: x for k, x in f.items() if k not in ("t", "fault")}
                lines.append(f"  {run.rel(f['t']):8.2f}s {f['fault']} {json.dumps(rest)}")
    if v.m:
        logdir = os.path.join(run.dir, "log")
        hits = []
        for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            try:
                with open(os.path.join(logdir, name), errors="replace") as f:
                    hits += [f"  {name}: {line.rstrip()[:220]}" for line in f if v.m in line]
            except OSError:
                pass
        hits.sort(key=lambda x: re.search(r"ts=(\S+)", x).group(1) if re.search(r"ts=(\S+)", x) else "")
        lines.append(f"server log lines naming {v.m} (the last 25 of {len(hits)}):")
        lines += hits[-25:]
    return "\n".join(lines)


def grouped(violations):
    """Violations of one kind about one reply on one socket, as (first, count)."""
    out, index = [], {}
    for x in violations:
        key = (x.kind, x.s, x.m) if x.s else id(x)
        if key in index:
            out[index[key]][1] += 1
        else:
            index[key] = len(out)
            out.append([x, 1])
    return out


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    run = Run(argv[0])
    pieces, prefixes, finals = check_sockets(run)
    check_texts(run, pieces, prefixes, finals)
    check_views(run)
    check_replies(run)
    check_cancels(run)
    check_leftovers(run)
    check_archive(run)
    check_memory(run)
    seed, secs = run.meta["seed"], run.meta["seconds"]
    print("check: " + summary(run))
    if not run.v:
        print(f"check: seed={seed}: no violation")
        return 0
    run.v.sort(key=lambda x: x.t)
    kinds = defaultdict(int)
    for x in run.v:
        kinds[x.kind] += 1
    print(f"check: seed={seed}: {len(run.v)} violation(s): "
          + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    groups = grouped(run.v)
    per_kind = defaultdict(int)
    for x, n in groups:
        per_kind[x.kind] += 1
        if per_kind[x.kind] > 8:
            continue  # the first eight of each kind
        more = f" (and {n - 1} more like it on this socket)" if n > 1 else ""
        print(f"  {run.rel(x.t):8.2f}s [{x.kind}] {x.what}" + (f" (socket {x.s})" if x.s else "") + more)
    for kind, n in sorted(per_kind.items()):
        if n > 8:
            print(f"  ... and {n - 8} more [{kind}] groups")
    # the event log around the first violation, and around the first of
    # each other kind (one bug of a kind can hide the rest otherwise)
    shown = []
    for x in run.v:
        if x.kind not in shown and len(shown) < 4:
            shown.append(x.kind)
            which = "the first violation" if len(shown) == 1 else f"the first [{x.kind}] violation"
            print(f"check: {which}, at {run.rel(x.t):.2f}s: [{x.kind}] {x.what}")
            print(context(run, x))
    print(f"check: replay the same schedule with: make soak SEED={seed} SOAK_S={secs:g}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
