"""One stack for the soak: bin/chatctl up on free ports in the run
directory, the stand-in OpenAI server (build/fake-openai) and a third
worker of the openai backend pointed at it (the soak supervises that one
itself: supervisord runs the two built-in workers), the processes' pids
and memory, and a snapshot of Redis for the checker."""
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
import urllib.request

from wsproto import Redis

# the partitions' hash tags, as src/common/keys.c has them
JOB_TAGS = ["u0", "3", "dj", "j", "d2", "2", "uh", "k", "ly", "1", "uv", "u", "9s", "0", "dt", "t"]

# The soak's settings of the stack: short leases and dead-relay times so
# that recovery happens within the run, a small jobs stream so that it is
# trimmed, small send queues so that a slow reader is closed 4408, chunks
# kept past the run so that the checker can read them all.
STACK_ENV = {
    "TOKEN_DELAY_MS": "15", "AI_MAX_TOKENS": "1200", "LEASE_MS": "3000", "RELAY_DEAD_MS": "5000",
    "JOBS_MAXLEN": "100", "SEND_QUEUE_FRAMES": "256", "SOCKET_SNDBUF": "16384",
    "CHUNK_TTL_S": "3600", "CANCEL_TTL_S": "300", "LOG_LEVEL": "info",
    "CHAT_PER_MIN": "1000000", "STREAMS_PER_USER": "100000", "LIMIT_CONN_PER_IP": "60000",
    "API_RATE_PER_S": "100000", "API_BURST": "100000", "WS_PER_MIN_USER": "1000000",
    "WS_PER_MIN_ADDR": "1000000",
}
OPENAI_ENV = {"AI_BACKEND": "openai", "AI_TIMEOUT_MS": "8000", "AI_API_KEY": "sk-soak", "NODE_ID": "ai-oa"}
FAKE_TOKENS = 80
FAKE_DELAY_MS = 20
# what the checker measures for memory
MEASURED = ("ws-relay", "ai-streamer", "recoverd", "chat-fcgi")


def port_free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(n):
    for _ in range(200):
        base = random.randint(12000, 31000)
        if all(port_free(base + i) for i in range(n)):
            return base
    raise RuntimeError("no free ports")


class Stack:
    def __init__(self, root, rundir, log):
        self.root, self.dir, self.log = root, rundir, log
        base = free_ports(7)
        self.http, self.redis_port, self.relay_base, self.fake = base, base + 1, base + 2, base + 5
        self.relays = [self.relay_base + i for i in range(3)]
        self.conf = os.path.join(rundir, "etc", "supervisord.conf")
        self.fake_proc = self.oa_proc = None
        self.oa_stopping = False
        self.oa_lock = threading.Lock()
        self.env = dict(os.environ, **STACK_ENV, SHARE_DIR=os.path.join(root, "share"),
                        REDIS_URL=f"redis://127.0.0.1:{self.redis_port}/0")
        self.env["PATH"] = os.path.join(root, "bin") + ":" + self.env.get("PATH", "")
        self.mode_file = os.path.join(rundir, "fake-mode")

    # --- starting and stopping ---
    def up(self):
        os.makedirs(os.path.join(self.dir, "log"), exist_ok=True)
        tokens = os.path.join(self.dir, "fake-tokens")
        with open(tokens, "w") as f:
            for i in range(FAKE_TOKENS):
                f.write(json.dumps(f" t{i}" + ("\u00e9" if i % 7 == 3 else "")) + "\n")
        self.upstream("ok")
        self.fake_proc = subprocess.Popen(
            [os.path.join(self.root, "build", "fake-openai"), "--port", str(self.fake), "--log",
             os.path.join(self.dir, "fake-openai.requests"), "--tokens", tokens, "--mode-file",
             self.mode_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        r = subprocess.run([os.path.join(self.root, "bin", "chatctl"), "up", "--dir", self.dir,
                            "--http-port", str(self.http), "--redis-port", str(self.redis_port),
                            "--relay-port-base", str(self.relay_base), "--relays", "3", "--streamers", "2"],
                           env=self.env, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("chatctl up failed:\n" + r.stdout + r.stderr)
        self.start_oa()
        threading.Thread(target=self.keep_oa, daemon=True).start()

    def upstream(self, mode):
        """The stand-in server's behaviour for the next requests."""
        with open(self.mode_file + ".tmp", "w") as f:
            f.write(f"{mode} {FAKE_DELAY_MS}\n")
        os.replace(self.mode_file + ".tmp", self.mode_file)

    def start_oa(self):
        env = dict(self.env, **OPENAI_ENV, AI_BASE_URLS=f"http://127.0.0.1:{self.fake}/v1")
        out = open(os.path.join(self.dir, "log", "ai-oa.log"), "a")
        self.oa_proc = subprocess.Popen([os.path.join(self.root, "bin", "ai-streamer")], env=env,
                                        stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        out.close()

    def keep_oa(self):
        """Restarts the openai worker when it dies, as supervisord does the others."""
        while not self.oa_stopping:
            time.sleep(0.3)
            with self.oa_lock:
                if not self.oa_stopping and self.oa_proc.poll() is not None:
                    self.log("restart", target="ai-oa", pid=self.oa_proc.pid, rc=self.oa_proc.returncode)
                    self.start_oa()

    def down(self):
        with self.oa_lock:
            self.oa_stopping = True
            for p in (self.oa_proc,):
                if p and p.poll() is None:
                    p.send_signal(signal.SIGCONT)
                    p.terminate()
                    try:
                        p.wait(10)
                    except subprocess.TimeoutExpired:
                        p.kill()
        subprocess.run([os.path.join(self.root, "bin", "chatctl"), "down", "--dir", self.dir],
                       capture_output=True)
        if self.fake_proc:
            # its children too: one may be sleeping in a stall (same session)
            try:
                os.killpg(self.fake_proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.fake_proc.wait()

    # --- processes ---
    def sctl(self, *args, timeout=30):
        return subprocess.run(["supervisorctl", "-c", self.conf, *args], capture_output=True, text=True,
                              timeout=timeout)

    def programs(self):
        """{name: pid} of every process of the stack, named as supervisord
        names them; read from /proc (supervisorctl costs a Python start,
        too much to call every second on a busy machine)."""
        try:
            with open(os.path.join(self.dir, "supervisord.pid")) as f:
                sup = f.read().strip()
        except OSError:
            return {}
        out = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] != sup:
                        continue
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().decode(errors="replace").split("\0")
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = dict(x.split("=", 1) for x in f.read().decode(errors="replace").split("\0") if "=" in x)
            except (OSError, IndexError):
                continue
            name = self.program_name(os.path.basename(argv[0]), argv, env.get("NODE_ID", ""))
            if name:
                out[name] = int(pid)
        with self.oa_lock:
            if self.oa_proc and self.oa_proc.poll() is None:
                out["ai-oa"] = self.oa_proc.pid
        return out

    @staticmethod
    def program_name(exe, argv, node):
        if exe == "ws-relay" and "--port" in argv:
            return f"ws-relay:ws-relay-{argv[argv.index('--port') + 1]}"
        if exe == "ai-streamer" and node.startswith("ai-"):
            return f"ai-streamer:ai-streamer-{node[3:]}"
        if exe == "chat-fcgi" and node.startswith("api-"):
            return f"chat-fcgi:chat-fcgi-{node[4:]}"
        if exe in ("recoverd", "nginx"):
            return exe
        if exe.startswith("redis-server"):
            return "redis"
        return None

    def pid(self, name):
        return self.programs().get(name)

    @staticmethod
    def rss_kb(pid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def measured(self):
        return {n: p for n, p in self.programs().items() if n == "ai-oa" or n.split(":")[0] in MEASURED}

    def redis(self):
        return Redis(self.redis_port)

    def health(self, port):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                return json.loads(r.read())
        except Exception as e:
            return {"status": "down", "error": str(e)[:80]}

    def healthy(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/api/health", timeout=2) as r:
                ok = r.status == 200
        except Exception:
            ok = False
        return ok and all(self.health(p).get("status") == "ok" for p in self.relays)


def snapshot(stack):
    """Everything the checker needs of Redis and the relays, as one dict."""
    r = stack.redis()
    keys, cursor = [], "0"
    while True:
        cursor, batch = r("SCAN", cursor, "COUNT", "1000")
        keys += batch
        if cursor == "0":
            break
    keys = sorted(set(keys))
    meta = r.pipeline([("TYPE", k) for k in keys] + [("PTTL", k) for k in keys])
    types, ttls = meta[:len(keys)], meta[len(keys):]
    reads = []
    for k, t in zip(keys, types):
        reads.append({"list": ("LRANGE", k, 0, -1), "hash": ("HGETALL", k), "set": ("SMEMBERS", k),
                      "zset": ("ZRANGE", k, 0, -1, "WITHSCORES"), "string": ("GET", k),
                      "stream": ("XLEN", k)}.get(t, ("TYPE", k)))
    values = r.pipeline(reads) if reads else []
    out = {"keys": {}}
    for k, t, ttl, v in zip(keys, types, ttls, values):
        if t == "hash":
            v = dict(zip(v[::2], v[1::2]))
        out["keys"][k] = {"type": t, "pttl": ttl, "value": v if not isinstance(v, Exception) else str(v)}
    chans = r("PUBSUB", "CHANNELS", "*")
    out["pubsub"] = dict(zip(chans, r("PUBSUB", "NUMSUB", *chans)[1::2])) if chans else {}
    try:
        # every partition's job stream (doc/redis.md, "Partitions")
        streams = ["jobs:{%s}" % t for t in JOB_TAGS]
        out["pending"] = sum(r("XPENDING", s, "ai-streamers")[0] for s in streams)
        # where each job is, for the replies that never ended
        out["jobs"] = [[eid, dict(zip(fields[::2], fields[1::2])).get("message_id")]
                       for s in streams for eid, fields in r("XRANGE", s, "-", "+")]
        out["pending_jobs"] = [[eid, consumer, idle, n] for s in streams
                               for eid, consumer, idle, n in r("XPENDING", s, "ai-streamers", "-", "+", 10000)]
    except Exception as e:
        out["pending"] = str(e)
    out["relays"] = {str(p): stack.health(p) for p in stack.relays}
    r.close()
    out["archived"] = archived(stack)
    return out


def archived(stack):
    """message id -> [content, status] of every message in the stack's own
    PostgreSQL archive; None without one; the error as text if unreadable."""
    sock = os.path.join(stack.dir, "postgres")
    if not os.path.isdir(sock):
        return None
    url = f"postgresql:///streamchat?host={sock}&user=streamchat"
    r = subprocess.run(["psql", url, "-XAt", "-c",
                        "SELECT coalesce(json_object_agg(message_id, json_build_array(content, status)), '{}') "
                        "FROM messages"], capture_output=True, text=True, timeout=60)
    if r.returncode:
        return r.stderr.strip() or f"psql exited {r.returncode}"
    return json.loads(r.stdout)
