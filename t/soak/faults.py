"""The soak's fault injector. plan() turns a seed into a schedule of faults
(the same seed, the same schedule: only the timing of what the programs do
meanwhile varies); Injector carries it out on a stack and logs each fault
as it starts and ends.

Faults: kill -9, and SIGSTOP then SIGCONT, of a relay, a worker or
recoverd (and a worker killed while recoverd is stopped for 20-30 s); SIGTERM drain of a relay (then started again); Redis restarted;
CLIENT KILL TYPE pubsub (every relay's subscriber connection); the stand-in
OpenAI server stalling or failing for a while; TCP connections of a relay
cut with ss -K (from the relay's side or the peer's), wherever in a frame
they are."""
import json
import os
import random
import signal
import subprocess
import threading
import time

RELAYS = ["relay0", "relay1", "relay2"]
WORKERS = ["worker0", "worker1", "worker-oa"]
PROCS = RELAYS + WORKERS + ["recoverd"]
WEIGHTS = {"kill9": 3, "stop": 3, "drain": 1.2, "redis_restart": 0.5, "pubsub_kill": 2,
           "upstream": 2, "cut": 2.5, "orphan": 0.5}
UPSTREAM_MODES = ["stall", "stall-after", "fail", "error-after"]


def plan(seed, seconds):
    """The schedule: a list of faults, each {at (s from the start), kind,
    target, dur, arg}; no two overlap on one target."""
    rng = random.Random(f"{seed}/faults")
    busy = {}
    out = []
    t = rng.uniform(1.0, 3.0)
    last_redis = -1e9
    while t < seconds - 1.0:
        kind = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        f = {"at": round(t, 2), "kind": kind, "target": None, "dur": 0, "arg": None}
        if kind in ("kill9", "stop"):
            free = [p for p in PROCS if busy.get(p, 0) <= t]
            # never more than two relays down at once: clients need somewhere to go
            if sum(1 for r in RELAYS if busy.get(r, 0) > t) >= 2:
                free = [p for p in free if p not in RELAYS]
            f["target"] = rng.choice(free) if free else None
            # recoverd stopped long enough for a dead worker's jobs to be
            # trimmed from the jobs stream before they are reclaimed
            longest = 25.0 if f["target"] == "recoverd" else 8.0
            f["dur"] = round(rng.uniform(0.5, longest), 2) if kind == "stop" else 1.0
        elif kind == "orphan":
            # a worker dies while recoverd is stopped for long: its jobs wait
            # in the jobs stream, which goes on being trimmed meanwhile
            free = [w for w in ("worker0", "worker1") if busy.get(w, 0) <= t]
            if free and busy.get("recoverd", 0) <= t:
                f["target"], f["arg"] = "recoverd", rng.choice(free)
                f["dur"] = round(rng.uniform(20.0, 30.0), 2)
                busy[f["arg"]] = t + 2.0
        elif kind == "drain" or kind == "cut":
            free = [r for r in RELAYS if busy.get(r, 0) <= t]
            f["target"] = rng.choice(free) if free else None
            f["dur"] = 5.0 if kind == "drain" else 0
            if kind == "cut":
                f["arg"] = {"side": rng.choice(["relay", "peer"]), "count": rng.choice([1, 1, 2, 3, 0])}
        elif kind == "redis_restart":
            f["target"] = "redis" if t - last_redis > 15 and busy.get("redis", 0) <= t else None
            f["dur"] = 5.0
            last_redis = t if f["target"] else last_redis
        elif kind == "pubsub_kill":
            f["target"] = "redis" if busy.get("redis", 0) <= t else None
            # again while the relays resubscribe and every socket rereads its snapshot
            f["arg"] = [round(rng.uniform(0.005, 0.2), 3) for _ in range(rng.choice([0, 0, 1, 2]))]
        elif kind == "upstream":
            f["target"] = "upstream" if busy.get("upstream", 0) <= t else None
            mode = rng.choice(UPSTREAM_MODES)
            f["arg"] = f"{mode}:{rng.randint(1, 30)}" if mode.endswith("after") else mode
            f["dur"] = round(rng.uniform(2.0, 10.0), 2)
        if f["target"]:
            busy[f["target"]] = t + f["dur"] + 0.5
            out.append(f)
        t += 0.3 + rng.expovariate(1 / 2.2)
    return out


def describe(f):
    extra = f" {f['arg']}" if f["arg"] else ""
    if f["kind"] == "pubsub_kill":
        extra = "".join(f", again {p}s later" for p in f["arg"] or [])
    dur = f" for {f['dur']}s" if f["kind"] in ("stop", "upstream", "orphan") else ""
    return f"+{f['at']:6.2f}s {f['kind']} {f['target']}{extra}{dur}"


class Injector:
    def __init__(self, stack, logpath):
        self.stack = stack
        self.f = open(logpath, "a", buffering=1)
        self.lock = threading.Lock()
        self.stopped = {}      # pid -> (target, name) of processes we SIGSTOPped
        self.threads = []
        self.ending = threading.Event()

    def log(self, what, **kw):
        kw.update(t=round(time.time() * 1000, 1), fault=what)
        with self.lock:
            self.f.write(json.dumps(kw) + "\n")

    def name(self, target):
        s = self.stack
        if target.startswith("relay"):
            return f"ws-relay:ws-relay-{s.relays[int(target[5:])]}"
        if target == "worker-oa":
            return "ai-oa"
        if target.startswith("worker"):
            return f"ai-streamer:ai-streamer-{target[6:]}"
        return target

    def run(self, schedule, seconds):
        """Carries out the schedule from now; returns after `seconds`."""
        t0 = time.time()
        for f in schedule:
            delay = t0 + f["at"] - time.time()
            if delay > 0 and self.ending.wait(delay):
                break
            th = threading.Thread(target=self.one, args=(f,), daemon=True)
            th.start()
            self.threads.append(th)
        left = t0 + seconds - time.time()
        if left > 0:
            self.ending.wait(left)

    def finish(self):
        """Ends every fault still in force; returns once all are undone."""
        self.ending.set()
        for th in self.threads:
            th.join(60)
        with self.lock:
            stopped = dict(self.stopped)
        for pid, target in stopped.items():
            self.cont(pid, target)
        self.stack.upstream("ok")

    def one(self, f):
        kind, target = f["kind"], f["target"]
        try:
            getattr(self, "do_" + kind)(f, target)
        except Exception as e:  # a fault that could not be made is logged, not fatal
            self.log("failed", kind=kind, target=target, error=str(e)[:200])

    def do_kill9(self, f, target):
        name = self.name(target)
        pid = self.stack.pid(name)
        if not pid:
            return self.log("skipped", kind="kill9", target=target, why="not running")
        self.log("kill9", target=target, name=name, pid=pid)
        signal_pid(pid, signal.SIGKILL)

    def do_stop(self, f, target):
        name = self.name(target)
        pid = self.stack.pid(name)
        if not pid:
            return self.log("skipped", kind="stop", target=target, why="not running")
        self.log("stop", target=target, name=name, pid=pid, dur=f["dur"])
        with self.lock:
            self.stopped[pid] = target
        signal_pid(pid, signal.SIGSTOP)
        self.ending.wait(f["dur"])
        self.cont(pid, target)

    def cont(self, pid, target):
        with self.lock:
            if self.stopped.pop(pid, None) is None:
                return
        signal_pid(pid, signal.SIGCONT)
        self.log("cont", target=target, pid=pid)

    def do_orphan(self, f, target):
        rec, worker = self.stack.pid("recoverd"), self.stack.pid(self.name(f["arg"]))
        if not rec or not worker:
            return self.log("skipped", kind="orphan", target=target, why="not running")
        self.log("stop", target="recoverd", name="recoverd", pid=rec, dur=f["dur"], why="orphan")
        with self.lock:
            self.stopped[rec] = "recoverd"
        signal_pid(rec, signal.SIGSTOP)
        self.log("kill9", target=f["arg"], name=self.name(f["arg"]), pid=worker, why="orphan")
        signal_pid(worker, signal.SIGKILL)
        self.ending.wait(f["dur"])
        self.cont(rec, "recoverd")

    def do_drain(self, f, target):
        name = self.name(target)
        self.log("drain", target=target, name=name, pid=self.stack.pid(name))
        r = self.stack.sctl("stop", name)
        self.log("drained", target=target, out=r.stdout.strip()[:100])
        r = self.stack.sctl("start", name)
        self.log("started", target=target, out=r.stdout.strip()[:100])

    def do_redis_restart(self, f, target):
        self.log("redis_restart", target="redis", pid=self.stack.pid("redis"))
        r = self.stack.sctl("restart", "redis")
        self.log("redis_restarted", target="redis", pid=self.stack.pid("redis"), out=r.stdout.strip()[:100])

    def do_pubsub_kill(self, f, target):
        r = self.stack.redis()
        try:
            for pause in [0] + (f["arg"] or []):
                time.sleep(pause)
                self.log("pubsub_kill", target="redis", killed=r("CLIENT", "KILL", "TYPE", "pubsub"))
        finally:
            r.close()

    def do_upstream(self, f, target):
        self.log("upstream", target="upstream", mode=f["arg"], dur=f["dur"])
        self.stack.upstream(f["arg"])
        self.ending.wait(f["dur"])
        self.stack.upstream("ok")
        self.log("upstream_ok", target="upstream")

    def do_cut(self, f, target):
        port = self.stack.relays[int(target[5:])]
        out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                             capture_output=True, text=True).stdout
        peers = sorted(int(line.split()[-1].rsplit(":", 1)[1]) for line in out.splitlines() if line.strip())
        if not peers:
            return self.log("skipped", kind="cut", target=target, why="no connections")
        rng = random.Random(f"{f['at']}/{target}")
        count = f["arg"]["count"] or len(peers)
        chosen = rng.sample(peers, min(count, len(peers)))
        for q in chosen:
            local, remote = (port, q) if f["arg"]["side"] == "relay" else (q, port)
            subprocess.run(["ss", "-K", "state", "established", f"( sport = :{local} and dport = :{remote} )"],
                           capture_output=True)
        self.log("cut", target=target, side=f["arg"]["side"], peers=chosen, of=len(peers))


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
