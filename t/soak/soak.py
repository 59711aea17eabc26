#!/usr/bin/env python3
"""A chaos soak of one whole stack (3 relays, 3 workers, recoverd) with an
invariant checker: the clients of t/soak/clients.py chat for --seconds while
t/soak/faults.py injects faults from a seeded schedule; then the clients
finish what is in flight, leave, the stack settles, Redis is read back, and
t/soak/check.py judges every socket and every reply.

  soak.py [--seconds 60] [--seed S] [--dir DIR] [--keep] [--scale K] [--only KINDS]

Prints the seed first; the same seed replays the same fault schedule and
the same client decisions (the timing of what the programs do meanwhile
varies). Exits 0 when no invariant was violated. The run directory (logs
of the clients, the faults and every program, the Redis snapshot) is kept
when something failed, or with --keep."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check  # noqa: E402
import faults  # noqa: E402
from stack import JOB_TAGS, Stack, snapshot  # noqa: E402

END_BOUND_S = 45      # every reply ends this long after the last fault at most
SETTLE_S = 20         # sockets, sessions and subscriptions gone this long after the clients


def sample_rss(stack, path, stop):
    """Every process's RSS every 2 seconds, until stop is set."""
    with open(path, "a", buffering=1) as f:
        while not stop.is_set():
            t = round(time.time() * 1000)
            for name, pid in stack.measured().items():
                kb = stack.rss_kb(pid)
                if kb:
                    f.write(json.dumps({"t": t, "name": name, "pid": pid, "kb": kb}) + "\n")
            stop.wait(2.0)


def watch_host(inj, stop):
    """Logs each stretch in which this process could not run for over a
    second (the machine overloaded or thrashing): the checker does not hold
    the programs to timing bounds across such a stall."""
    last = time.time()
    while not stop.wait(0.2):
        now = time.time()
        if now - last > 1.2:
            inj.log("host_stall", target="host", since=round(last * 1000, 1), dur=round(now - last - 0.2, 2))
        last = now


def settle(stack, limit):
    """Waits until the relays hold no socket or session, Redis no
    subscription, no session has a reply in flight and no job is pending,
    or limit seconds."""
    end = time.time() + limit
    while time.time() < end:
        try:
            r = stack.redis()
            try:
                busy = bool(r("PUBSUB", "CHANNELS", "*")) or any(
                    r("XPENDING", "jobs:{%s}" % t, "ai-streamers")[0] != 0 for t in JOB_TAGS)
                cursor = "0"
                while not busy:
                    cursor, keys = r("SCAN", cursor, "MATCH", "stream:session:*", "COUNT", "1000")
                    statuses = r.pipeline([("HGET", k, "status") for k in keys]) if keys else []
                    busy = any(s in ("queued", "streaming") for s in statuses)
                    if cursor == "0":
                        break
            finally:
                r.close()
            if not busy and all(h.get("connections") == 0 and h.get("sessions") == 0
                                for h in map(stack.health, stack.relays)):
                return
        except Exception:
            pass
        time.sleep(0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--seed", default=None)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--scale", type=int, default=1)
    ap.add_argument("--only", default="", help="only these kinds of clients (to isolate a failure)")
    args = ap.parse_args()
    seed = args.seed or str(int.from_bytes(os.urandom(4), "big"))
    root = os.path.dirname(os.path.dirname(HERE))
    rundir = os.path.abspath(args.dir or os.path.join(root, "build", "soak", f"{seed}-{int(time.time())}"))
    os.makedirs(rundir, exist_ok=True)
    secs = args.seconds
    print(f"soak: seed={seed} seconds={secs:g} dir={rundir}", flush=True)
    print(f"soak: replay with: make soak SEED={seed} SOAK_S={secs:g}", flush=True)
    schedule = faults.plan(seed, secs)
    with open(os.path.join(rundir, "plan.txt"), "w") as f:
        f.writelines(faults.describe(x) + "\n" for x in schedule)
    print(f"soak: {len(schedule)} faults planned (plan.txt)", flush=True)

    flog = os.path.join(rundir, "faults.jsonl")
    inj = None
    stack = Stack(root, rundir, lambda what, **kw: inj.log(what, **kw) if inj else None)
    inj = faults.Injector(stack, flog)
    stop_rss = threading.Event()
    # an ASan build: memory is not judged (its quarantine holds freed
    # blocks), and the logs stay for t/run to search for reports
    san = open(os.path.join(root, "bin", ".variant")).read().strip() == "san" \
        if os.path.exists(os.path.join(root, "bin", ".variant")) else False
    meta = {"seed": seed, "seconds": secs, "end_bound_s": END_BOUND_S, "settle_s": SETTLE_S, "san": san,
            "env": {k: v for k, v in stack.env.items() if k in faults_env_keys()}}
    try:
        stack.up()
        time.sleep(1.0)
        rss = threading.Thread(target=sample_rss, args=(stack, os.path.join(rundir, "rss.jsonl"), stop_rss),
                               daemon=True)
        rss.start()
        time.sleep(1.5)  # the first samples: each process's memory at its start
        meta["ports"] = {"http": stack.http, "redis": stack.redis_port, "relays": stack.relays}
        clients = subprocess.Popen(
            [sys.executable, "-B", os.path.join(HERE, "clients.py"), "--api", str(stack.http), "--relays",
             ",".join(map(str, stack.relays)), "--seed", seed, "--seconds", str(secs), "--end-bound",
             str(END_BOUND_S), "--log", os.path.join(rundir, "clients.jsonl"), "--scale", str(args.scale),
             "--only", args.only])
        meta["chaos_start"] = time.time() * 1000
        threading.Thread(target=watch_host, args=(inj, stop_rss), daemon=True).start()
        inj.run(schedule, secs)
        inj.finish()
        meta["quiet_at"] = time.time() * 1000
        inj.log("quiet")
        print(f"soak: faults over; the clients finish what is in flight (at most {END_BOUND_S}s)", flush=True)
        try:
            clients.wait(END_BOUND_S + 30)
        except subprocess.TimeoutExpired:
            clients.kill()
            clients.wait()
            meta["clients_killed"] = True
        meta["clients_left"] = time.time() * 1000
        settle(stack, SETTLE_S)
        meta["settled"] = time.time() * 1000
        time.sleep(1.0)
        stop_rss.set()
        rss.join()
        final = {n: {"pid": p, "kb": stack.rss_kb(p)} for n, p in stack.measured().items()}
        meta["rss_final"] = final
        with open(os.path.join(rundir, "scan.json"), "w") as f:
            json.dump(snapshot(stack), f)
        with open(os.path.join(rundir, "meta.json"), "w") as f:
            json.dump(meta, f)
    except Exception as e:
        print(f"soak: the run broke off: {type(e).__name__}: {e}", flush=True)
    finally:
        stop_rss.set()
        stack.down()
    ok = os.path.exists(os.path.join(rundir, "meta.json")) and check.main([rundir]) == 0
    if ok and not args.keep and not san:
        shutil.rmtree(rundir, ignore_errors=True)
    else:
        print(f"soak: run directory kept: {rundir}", flush=True)
    print(f"soak: seed={seed}: {'PASS' if ok else 'FAIL'}", flush=True)
    return 0 if ok else 1


def faults_env_keys():
    from stack import STACK_ENV
    return set(STACK_ENV) | {"AI_TIMEOUT_MS"}


if __name__ == "__main__":
    sys.exit(main())
