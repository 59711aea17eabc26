#!/usr/bin/env python3
"""The soak's clients: a fixed mix of WebSocket + HTTP clients of one stack,
each a coroutine with its own seeded PRNG, that behave like the page (reload
mid-reply), like chat-cli (resume by URL or by reconnect frame), resume
older replies while a newer one streams, cancel, post while a reply
streams, listen in two tabs, and read so slowly that the relay closes them
4408. Every frame every socket receives goes to one JSON-lines log with a
timestamp, with what each client assembled of each reply ("done"), for
t/soak/check.py to judge.

  clients.py --api PORT --relays P1,P2,P3 --seed S --seconds N --log FILE
             [--end-bound SEC] [--scale K] [--only KINDS]

It posts new messages for --seconds, then follows what is in flight for at
most --end-bound more seconds, and exits 0 (violations are the checker's
business, not this program's)."""
import argparse
import asyncio
import itertools
import json
import random
import sys
import time

from wsproto import Closed, WebSocket, http_json

HOST = "127.0.0.1"
ERROR_NOT_END = ("busy", "unknown_type")


def now_ms():
    return round(time.time() * 1000, 1)


class Log:
    def __init__(self, path):
        self.f = open(path, "w", buffering=1 << 16)

    def __call__(self, **kw):
        kw["t"] = now_ms()
        self.f.write(json.dumps(kw, separators=(",", ":"), ensure_ascii=False) + "\n")

    def close(self):
        self.f.close()


class Env:
    def __init__(self, args, log):
        self.api = args.api
        self.relays = [int(p) for p in args.relays.split(",")]
        self.log = log
        self.stop_at = time.time() + args.seconds
        self.end_bound = args.end_bound
        self.stalled = 0.0

    @property
    def deadline(self):
        """The end bound runs from the end of posting, not counting the
        time this process could not run at all (an overloaded machine)."""
        return self.stop_at + self.end_bound + self.stalled

    def posting(self):
        return time.time() < self.stop_at

    async def watch(self):
        last = time.time()
        while time.time() < self.deadline:
            await asyncio.sleep(0.2)
            now = time.time()
            if now - last > 1.2:
                self.stalled += now - last - 0.2
                self.log(e="stalled", seconds=round(now - last - 0.2, 2))
            last = now


class View:
    """One client's assembly of one reply: text it was given by a history
    frame (through index last), chunks placed by index, the end."""

    def __init__(self, mid=None):
        self.mid = mid
        self.prefix, self.last = "", -1
        self.chunks = {}
        self.status = self.total = self.final = None
        self.how = None

    def through(self):
        i = self.last
        while i + 1 in self.chunks:
            i += 1
        return i

    def text(self):
        if self.final is not None:
            return self.final
        return self.prefix + "".join(self.chunks[i] for i in range(self.last + 1, self.through() + 1))

    def hold(self, text, last):
        """The client holds chunks 0..last whose text is text."""
        if last > self.last:
            self.prefix, self.last = text, last

    def from_history(self, item):
        st = item.get("status")
        if st in ("complete", "cancelled", "error"):
            self.final, self.status, self.how = item.get("content", ""), st, "history"
        elif st == "streaming":
            self.hold(item.get("content", ""), item.get("lastChunkIndex", -1))

    def chunk(self, i, x):
        if i > self.last and i not in self.chunks:
            self.chunks[i] = x

    def end(self, status, total):
        self.status, self.total = status, total
        self.how = self.how or "frames"

    def done(self):
        if self.final is not None:
            return True
        return self.status is not None and (self.total is None or self.through() >= self.total - 1)


class Sock:
    """One WebSocket of a client; logs everything it receives."""
    ids = itertools.count(1)

    def __init__(self, client, sess):
        self.client, self.sess = client, sess
        self.id = f"{client.name}#{next(Sock.ids)}"
        self.ws = None
        self.greeted = False
        self.frames = 0

    @property
    def log(self):
        return self.client.env.log

    async def open(self, resume=None, rcvbuf=0, limit=1 << 16, route=None):
        """Connects through nginx or straight to a relay (as a balancer
        would); tries the others on failure. resume=(mid, last) goes on
        the URL. Returns False once the client should give up."""
        c = self.client
        path = f"/ws/chat?session_id={self.sess}&user_id={c.user}"
        if resume:
            path += f"&messageId={resume[0]}&lastChunkIndex={resume[1]}"
        routes = ["nginx"] + [f"relay:{p}" for p in c.env.relays]
        first = route or (routes[0] if c.rng.random() < 0.35 else c.rng.choice(routes[1:]))
        order = [first] + [r for r in routes if r != first]
        for attempt in itertools.count():
            r = order[attempt % len(order)]
            port = c.env.api if r == "nginx" else int(r.split(":")[1])
            try:
                self.ws = await WebSocket.connect(HOST, port, path, rcvbuf=rcvbuf, limit=limit)
                self.log(e="open", c=c.name, s=self.id, sess=self.sess, via=r,
                         resume=list(resume) if resume else None)
                return True
            except OSError as e:
                self.log(e="open_fail", c=c.name, s=self.id, via=r, err=str(e)[:120])
            if time.time() > c.env.deadline:
                return False
            await asyncio.sleep(min(2.0, 0.05 * 2 ** min(attempt, 5)) * (0.5 + c.rng.random()))

    async def next(self):
        """The next frame as a dict; raises Closed (logged) when the socket ends."""
        try:
            raw = await self.ws.recv()
        except Closed as e:
            self.log(e="close", c=self.client.name, s=self.id, code=e.code, reason=e.reason[:80])
            raise
        self.frames += 1
        f = json.loads(raw)
        self.record(f)
        return f

    def record(self, f):
        ty, base = f.get("type"), {"e": "f", "c": self.client.name, "s": self.id}
        if ty == "chunk":
            self.log(**base, ty="chunk", m=f["messageId"], i=f["index"], x=f["content"])
        elif ty in ("complete", "cancelled"):
            self.log(**base, ty="end", st=ty, m=f["messageId"], n=f.get("totalChunks"))
        elif ty == "error" and f.get("messageId") and f.get("code") not in ERROR_NOT_END:
            self.log(**base, ty="end", st="error", m=f["messageId"], n=f.get("totalChunks"),
                     code=f.get("code"))
        elif ty == "history":
            self.greeted = True
            items = [[m.get("message_id"), m.get("status"), m.get("lastChunkIndex"), m.get("content", "")]
                     for m in f.get("messages", []) if m.get("role") == "assistant"]
            self.log(**base, ty="history", items=items)
        elif ty == "recovery_status":
            self.log(**base, ty="recovery", m=f.get("messageId"), st=f.get("status"),
                     n=f.get("chunksRecovered"))
        elif ty == "welcome":
            self.log(**base, ty="welcome", node=f.get("nodeId"))
        else:
            self.log(**base, ty=ty or "?", raw=json.dumps(f)[:200])

    async def send_reconnect(self, mid, last):
        self.log(e="send", c=self.client.name, s=self.id, what="reconnect", m=mid, last=last)
        await self.ws.send_text(json.dumps({"type": "reconnect", "messageId": mid, "lastChunkIndex": last}))

    async def close(self, how="polite"):
        if self.ws is None or self.ws.closed:
            return
        self.log(e="close", c=self.client.name, s=self.id, code=1000 if how == "polite" else 1006,
                 reason=f"by client: {how}", by="client")
        if how == "polite":
            await self.ws.close()
        else:
            self.ws.cut(how)

    @property
    def closed(self):
        return self.ws is None or self.ws.closed is not None


class Client:
    """What every kind of client shares: its PRNG, user, sessions, the API."""

    def __init__(self, env, name, seed):
        self.env, self.name = env, name
        self.rng = random.Random(f"{seed}/{name}")
        self.user = f"u-{name}"
        self.nsess = 0
        self.turns_left = 0
        self.sess = None
        self.log = env.log

    def session(self):
        """The current session; a new one every few turns, so that sessions
        come and go (registry, subscriptions) and histories stay short."""
        if self.turns_left <= 0:
            self.nsess += 1
            self.sess = f"{self.name}-{self.nsess}"
            self.turns_left = self.rng.randint(2, 7)
        self.turns_left -= 1
        return self.sess

    async def api(self, method, path, body=None):
        try:
            return await http_json(HOST, self.env.api, method, path, body)
        except (OSError, TimeoutError) as e:
            return None, str(e)[:80]

    async def post(self, sess, words):
        """POSTs a message; the reply's id, or None (logged either way)."""
        msg = " ".join(f"w{i}" for i in range(words))
        status, body = await self.api("POST", "/api/chat", {"session_id": sess, "message": msg,
                                                             "user_id": self.user})
        mid = body.get("message_id") if status == 202 and isinstance(body, dict) else None
        code = body.get("error", {}).get("code") if isinstance(body, dict) and "error" in body else None
        self.log(e="post", c=self.name, sess=sess, status=status, m=mid, words=words, code=code)
        return mid

    async def post_until(self, sess, words):
        """Posts until accepted (503 while Redis restarts, 409 while a reply
        whose POST answer was lost still streams), or posting time is over."""
        while self.env.posting():
            mid = await self.post(sess, words)
            if mid:
                return mid
            await asyncio.sleep(0.3 + self.rng.random())
        return None

    async def history_item(self, sess, mid):
        for _ in range(20):
            status, body = await self.api("GET", f"/api/history/{sess}?user_id={self.user}")
            if status == 200:
                for m in body.get("messages", []):
                    if m.get("message_id") == mid:
                        return m
                return None
            await asyncio.sleep(0.5)
        return None

    def done(self, view, tag):
        self.log(e="done", c=self.name, v=tag, m=view.mid, st=view.status, how=view.how,
                 text=view.text())

    async def pause(self, lo, hi):
        await asyncio.sleep(lo + (hi - lo) * self.rng.random())

    async def greet(self, sock):
        """Reads up to the history frame; False if the socket closed first."""
        try:
            while not sock.greeted:
                await sock.next()
            return True
        except Closed:
            return False

    async def read_until(self, sock, view, want):
        """Reads sock until view has chunks through want (or has ended)."""
        try:
            while view.through() < want and not view.done():
                async with asyncio.timeout(max(0.1, self.env.deadline - time.time())):
                    f = await sock.next()
                if f.get("messageId") != view.mid:
                    continue
                if f.get("type") == "chunk":
                    view.chunk(f["index"], f["content"])
                elif f.get("type") in ("complete", "cancelled") or (
                        f.get("type") == "error" and f.get("code") not in ERROR_NOT_END):
                    view.end(f["type"], f.get("totalChunks"))
        except (Closed, TimeoutError):
            pass

    async def follow(self, view, sess, policy, sock=None, tag=None, reload_p=0.0, drop_every=0,
                     stall=None, on_chunk=None, open_kw=None):
        """Follows reply view.mid on sess until the client has all of it,
        reopening the socket as policy says when it drops: 'fresh' (a page
        reload: the history frame gives the text so far), 'url' or 'frame'
        (chat-cli's two ways of resuming).
        Returns the socket, still open (or None)."""
        tag = tag or view.mid
        chunks_here = 0
        while not view.done():
            if time.time() > self.env.deadline:
                self.log(e="gave_up", c=self.name, v=tag, m=view.mid, have=view.through(),
                         why="reply not whole by the end bound")
                return sock
            if sock is None or sock.closed:
                # a socket opened here replaces one that dropped: resume
                resume = (view.mid, view.through()) if policy == "url" else None
                sock = Sock(self, sess)
                if not await sock.open(resume, **(open_kw or {})):
                    continue
                chunks_here = 0
                if policy == "frame":
                    if not await self.greet(sock):
                        continue
                    try:
                        await sock.send_reconnect(view.mid, view.through())
                    except Closed:
                        continue
            if stall and sock.frames >= stall[0]:
                self.log(e="stall", c=self.name, s=sock.id, seconds=stall[1])
                await asyncio.sleep(stall[1])
                stall = None
            try:
                remaining = self.env.deadline - time.time()
                async with asyncio.timeout(max(0.1, remaining)):
                    f = await sock.next()
            except TimeoutError:
                continue
            except Closed as e:
                if e.code != 1001:
                    await asyncio.sleep(0.05 + 0.3 * self.rng.random())
                continue
            ty, mid = f.get("type"), f.get("messageId")
            if ty == "history" and policy == "fresh":
                for it in f.get("messages", []):
                    if it.get("role") == "assistant" and view.mid and it.get("message_id") == view.mid:
                        view.from_history(it)
                continue
            if ty == "error" and f.get("code") == "busy" and view.mid and policy == "frame":
                await asyncio.sleep(0.3)
                try:
                    await sock.send_reconnect(view.mid, view.through())
                except Closed:
                    pass
                continue
            if not mid:
                continue
            if mid != view.mid:
                continue
            if ty == "chunk":
                view.chunk(f["index"], f["content"])
                chunks_here += 1
                if on_chunk:
                    on_chunk(view)
                if drop_every and chunks_here >= drop_every and not view.done():
                    await sock.close(self.rng.choice(["polite", "reset", "fin", "midframe"]))
                elif reload_p and self.rng.random() < reload_p and not view.done():
                    await self.reload(sock, sess)
            elif ty in ("complete", "cancelled"):
                view.end(ty, f.get("totalChunks"))
            elif ty == "error" and f.get("code") not in ERROR_NOT_END:
                view.end("error", f.get("totalChunks"))
            elif ty == "recovery_status" and f.get("status") == "not_found":
                item = await self.history_item(sess, view.mid)
                if item and item.get("status") != "streaming":
                    view.final, view.status, view.how = item.get("content", ""), item["status"], "api"
        self.done(view, tag)
        return sock

    async def reload(self, sock, sess):
        """A page reload: the socket goes, sometimes rudely; sometimes a
        socket opens and goes at once first (before its subscription is
        even confirmed)."""
        await sock.close(self.rng.choice(["polite", "reset", "fin", "midframe"]))
        if self.rng.random() < 0.3:
            flash = Sock(self, sess)
            if await flash.open():
                await flash.close(self.rng.choice(["reset", "fin"]))


class Page(Client):
    """The web page: reloads mid-reply (the history frame gives the text so
    far), posts when nothing streams."""

    async def run(self):
        while self.env.posting():
            sess = self.session()
            sock = Sock(self, sess)
            if not await sock.open() or not await self.greet(sock):
                continue
            mid = await self.post_until(sess, self.rng.randint(3, 50))
            if not mid:
                break
            sock = await self.follow(View(mid), sess, "fresh", sock, reload_p=0.03)
            await self.pause(0.1, 1.0)
            if sock:
                await sock.close(self.rng.choice(["polite", "polite", "reset"]))


class Cli(Client):
    """chat-cli: a socket per message, resuming by URL or by frame after
    its own drops and the server's closes."""

    def __init__(self, env, name, seed, policy):
        super().__init__(env, name, seed)
        self.policy = policy

    async def run(self):
        while self.env.posting():
            sess = self.session()
            sock = Sock(self, sess)
            if not await sock.open() or not await self.greet(sock):
                continue
            mid = await self.post_until(sess, self.rng.randint(3, 120))
            if not mid:
                break
            drop = self.rng.choice([0, 0, 10, 25, 60])
            sock = await self.follow(View(mid), sess, self.policy, sock, drop_every=drop)
            if sock:
                await sock.close()
            await self.pause(0.1, 0.8)


class Canceller(Client):
    """Posts a long message and cancels it after a few chunks, or after a
    moment if no chunk comes (a stalled upstream, a stopped worker)."""

    async def run(self):
        while self.env.posting():
            sess = self.session()
            sock = Sock(self, sess)
            if not await sock.open() or not await self.greet(sock):
                continue
            mid = await self.post_until(sess, self.rng.randint(60, 250))
            if not mid:
                break
            at, after = self.rng.randint(0, 80), self.rng.uniform(0.05, 3.0)
            tasks = []

            def fire():
                if not tasks:
                    tasks.append(asyncio.create_task(self.cancel(sess, mid)))

            timer = asyncio.get_running_loop().call_later(after, fire)
            sock = await self.follow(View(mid), sess, self.rng.choice(["url", "frame"]), sock,
                                     on_chunk=lambda v: v.through() >= at and fire())
            timer.cancel()
            fire()  # it ended first: the cancel is refused (409), and changes nothing
            await asyncio.gather(*tasks)
            if sock:
                await sock.close()
            await self.pause(0.1, 0.8)

    async def cancel(self, sess, mid):
        t0 = now_ms()
        status, body = await self.api("POST", "/api/cancel", {"session_id": sess, "message_id": mid,
                                                               "user_id": self.user})
        code = body.get("error", {}).get("code") if isinstance(body, dict) and "error" in body else None
        self.log(e="cancel", c=self.name, sess=sess, m=mid, status=status, code=code, sent=t0)


class OldResumer(Client):
    """Builds a session of a few replies, then resumes an older one from a
    random chunk, by URL or by frame, often while a newer reply streams (on
    another socket of the session, and so on the resuming one too)."""

    async def run(self):
        while self.env.posting():
            sess = self.session()
            self.turns_left = 0
            whole = []
            for _ in range(self.rng.randint(2, 3)):
                sock = Sock(self, sess)
                if not await sock.open() or not await self.greet(sock):
                    continue
                mid = await self.post_until(sess, self.rng.randint(3, 40))
                if not mid:
                    return
                v = View(mid)
                sock = await self.follow(v, sess, "url", sock)
                await sock.close()
                if v.final is None and v.done():
                    whole.append(v)  # every chunk of it is known, by index
            for _ in range(self.rng.randint(2, 4)):
                if not whole or not self.env.posting():
                    break
                await self.resume_old(sess, self.rng.choice(whole))

    async def resume_old(self, sess, old):
        total = old.through() + 1
        last = self.rng.randint(-1, total - 1)
        way = self.rng.choice(["url", "frame"])
        newer = primary = None
        if self.rng.random() < 0.6:
            primary = Sock(self, sess)
            if await primary.open() and await self.greet(primary):
                mid = await self.post_until(sess, self.rng.randint(30, 120))
                if mid:
                    newer = View(mid)
                    await self.read_until(primary, newer, self.rng.randint(0, 20))
        # the resuming socket holds chunks 0..last of the old reply
        held = View(old.mid)
        held.hold("".join(old.chunks[i] for i in range(last + 1)), last)
        here = View(newer.mid) if newer else None  # the newer reply, as this socket sees it
        tag = f"{old.mid}@{last}"
        sock = Sock(self, sess)
        if await sock.open((old.mid, last) if way == "url" else None):
            await self.watch_both(sock, sess, held, here, way)
        if not held.done():
            sock = await self.follow(held, sess, way, sock, tag=tag)
        else:
            self.done(held, tag)
        if here and here.done():
            self.done(here, f"{here.mid}@resumer")
        if newer:
            primary = await self.follow(newer, sess, "url", primary)
        for s in (primary, sock):
            if s:
                await s.close()

    async def watch_both(self, sock, sess, held, here, way):
        """Reads the resuming socket until the old reply is whole and the
        newer one (if any) has ended on it, or the socket drops."""
        try:
            if way == "frame":
                while not sock.greeted:
                    await self.one_frame(sock, sess, held, here)
                await sock.send_reconnect(held.mid, held.last)
            while not held.done() or (here and not here.done()):
                async with asyncio.timeout(max(0.1, self.env.deadline - time.time())):
                    await self.one_frame(sock, sess, held, here)
        except (Closed, TimeoutError):
            pass

    async def one_frame(self, sock, sess, held, here):
        f = await sock.next()
        ty, mid = f.get("type"), f.get("messageId")
        if ty == "history" and here:
            for it in f.get("messages", []):
                if it.get("message_id") == here.mid:
                    here.from_history(it)
        views = {v.mid: v for v in (held, here) if v}
        v = views.get(mid)
        if not v:
            return
        if ty == "chunk":
            v.chunk(f["index"], f["content"])
        elif ty in ("complete", "cancelled") or (ty == "error" and f.get("code") not in ERROR_NOT_END):
            v.end(ty, f.get("totalChunks"))
        elif ty == "error" and f.get("code") == "busy":
            await asyncio.sleep(0.3)
            await sock.send_reconnect(held.mid, held.last)
        elif ty == "recovery_status" and f.get("status") == "not_found" and v is held:
            item = await self.history_item(sess, held.mid)
            if item and item.get("status") != "streaming":
                held.final, held.status, held.how = item.get("content", ""), item["status"], "api"


class Tabs(Client):
    """Two tabs on one session: one posts, both follow every reply, each
    reloading now and then."""

    async def run(self):
        while self.env.posting():
            sess = self.session()
            a, b = Sock(self, sess), Sock(self, sess)
            if not await a.open() or not await b.open():
                continue
            if not await self.greet(a) or not await self.greet(b):
                await a.close()
                await b.close()
                continue
            mid = await self.post_until(sess, self.rng.randint(3, 80))
            if not mid:
                break
            a, b = await asyncio.gather(
                self.follow(View(mid), sess, "fresh", a, tag=f"{mid}@A", reload_p=0.02),
                self.follow(View(mid), sess, "fresh", b, tag=f"{mid}@B", reload_p=0.02))
            for s in (a, b):
                if s:
                    await s.close(self.rng.choice(["polite", "reset"]))
            await self.pause(0.1, 0.8)


class Poster(Client):
    """Posts again while its reply streams (409, and nothing changes), and
    in a second session of the same user meanwhile."""

    async def run(self):
        while self.env.posting():
            sx = self.session()
            sy = sx + "-y"
            a, b = Sock(self, sx), Sock(self, sy)
            if not await a.open() or not await self.greet(a) or not await b.open() or not await self.greet(b):
                await a.close()
                await b.close()
                continue
            mx = await self.post_until(sx, self.rng.randint(40, 150))
            if not mx:
                break
            vx = View(mx)
            await self.read_until(a, vx, self.rng.randint(0, 10))
            if not vx.done():
                await self.post(sx, 5)  # the session has a reply streaming: 409
            my = await self.post_until(sy, self.rng.randint(3, 60))
            tasks = [self.follow(vx, sx, "url", a)]
            if my:
                tasks.append(self.follow(View(my), sy, "frame", b))
            for s in await asyncio.gather(*tasks):
                if s:
                    await s.close()
            await b.close()
            await self.pause(0.1, 0.8)


class Slow(Client):
    """Reads a long reply with a small receive window and stops reading for
    seconds: the relay closes it 4408; it resumes by URL."""

    async def run(self):
        kw = {"rcvbuf": 4096, "limit": 4096}
        while self.env.posting():
            sess = self.session()
            sock = Sock(self, sess)
            relay = f"relay:{self.rng.choice(self.env.relays)}"
            if not await sock.open(route=relay, **kw) or not await self.greet(sock):
                continue
            mid = await self.post_until(sess, self.rng.randint(300, 500))
            if not mid:
                break
            sock = await self.follow(View(mid), sess, "url", sock, stall=(3, self.rng.uniform(5, 10)),
                                     open_kw=kw)
            if sock:
                await sock.close()
            await self.pause(0.1, 0.8)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", type=int, required=True)
    ap.add_argument("--relays", required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--end-bound", type=float, default=45)
    ap.add_argument("--log", required=True)
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated kinds (page,url,frame,cancel,old,tabs,"
                    "poster,slow): to isolate a failure; default all")
    args = ap.parse_args()
    log = Log(args.log)
    env = Env(args, log)
    clients = []
    for k in range(args.scale):
        clients += [("page", Page(env, f"page{k}a", args.seed)), ("page", Page(env, f"page{k}b", args.seed)),
                    ("url", Cli(env, f"url{k}a", args.seed, "url")), ("url", Cli(env, f"url{k}b", args.seed, "url")),
                    ("frame", Cli(env, f"frame{k}a", args.seed, "frame")),
                    ("frame", Cli(env, f"frame{k}b", args.seed, "frame")),
                    ("cancel", Canceller(env, f"cancel{k}a", args.seed)),
                    ("cancel", Canceller(env, f"cancel{k}b", args.seed)),
                    ("old", OldResumer(env, f"old{k}", args.seed)), ("tabs", Tabs(env, f"tabs{k}", args.seed)),
                    ("poster", Poster(env, f"poster{k}", args.seed)), ("slow", Slow(env, f"slow{k}", args.seed))]
    kinds = args.only.split(",") if args.only else None
    clients = [c for kind, c in clients if not kinds or kind in kinds]
    log(e="start", seed=args.seed, clients=[c.name for c in clients], stop_at=env.stop_at * 1000,
        deadline=env.deadline * 1000)

    async def all_clients():
        watch = asyncio.create_task(env.watch())
        await asyncio.gather(*(c.run() for c in clients))
        watch.cancel()

    asyncio.run(all_clients())
    log(e="end")
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
