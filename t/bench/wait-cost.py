#!/usr/bin/env python3
"""What a WAIT 1 between a chunk's append and its publish would cost
(doc/redis.md, "Redis Sentinel, and durability across a failover"): an
append-and-publish script alone, against append; WAIT 1 100; PUBLISH
pipelined in one write, one call in flight, in interleaved rounds so that
the machine's other load falls on both alike. Prints latency, calls/s per
connection and Redis CPU per call on the primary and on the replica.

usage: wait-cost.py PRIMARY_PORT REPLICA_PORT CALLS   (REDISCLI_AUTH: the password)"""
import os
import socket
import sys
import time

ROUNDS = 6


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")
        if os.environ.get("REDISCLI_AUTH"):
            self.send(cmd("AUTH", os.environ["REDISCLI_AUTH"]))
            self.read()

    def send(self, data):
        self.s.sendall(data)

    def read(self):
        line = self.f.readline()
        kind = line[:1]
        if kind in b"+-:":
            return line.rstrip()
        if kind == b"$":
            n = int(line[1:])
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if kind == b"*":
            return [self.read() for _ in range(int(line[1:]))]
        raise RuntimeError("bad reply %r" % line)


def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def cpu_s(port):
    c = Conn(port)
    c.send(cmd("INFO", "cpu"))
    info = dict(l.split(":", 1) for l in c.read().decode().split() if ":" in l)
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


APPEND = "redis.call('RPUSH', KEYS[1], ARGV[1]) %s return 1"
WITH_PUBLISH = APPEND % "redis.call('PUBLISH', ARGV[2], ARGV[3])"
WITHOUT = APPEND % ""
TOKEN, FRAME = "tok-0123", "f" * 150


def run(c, mode, calls, lat):
    timeouts = 0
    for _ in range(calls):
        t0 = time.perf_counter()
        if mode == "alone":
            c.send(cmd("EVAL", WITH_PUBLISH, 1, "bench:wait", TOKEN, "bench:wait:chan", FRAME))
            c.read()
        else:
            c.send(cmd("EVAL", WITHOUT, 1, "bench:wait", TOKEN) + cmd("WAIT", 1, 100) +
                   cmd("PUBLISH", "bench:wait:chan", FRAME))
            c.read()
            timeouts += c.read() != b":1"
            c.read()
        lat.append(time.perf_counter() - t0)
    return timeouts


def main():
    primary, replica, calls = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    c = Conn(primary)
    lat = {"alone": [], "wait": []}
    cpu = {"alone": [0.0, 0.0], "wait": [0.0, 0.0]}
    timeouts = 0
    for _ in range(ROUNDS):
        for mode in lat:
            before = cpu_s(primary), cpu_s(replica)
            t = run(c, mode, calls // ROUNDS, lat[mode])
            timeouts += t
            cpu[mode][0] += cpu_s(primary) - before[0]
            cpu[mode][1] += cpu_s(replica) - before[1]
            c.send(cmd("DEL", "bench:wait"))
            c.read()
    print("%-34s %8s %8s %10s %14s %14s" % ("", "p50 us", "p99 us", "calls/s", "primary us/call",
                                             "replica us/call"))
    names = {"alone": "append+publish script", "wait": "append; WAIT 1; PUBLISH pipelined"}
    for mode, l in lat.items():
        l.sort()
        n = len(l)
        print("%-34s %8.0f %8.0f %10.0f %14.1f %14.1f" % (
            names[mode], l[n // 2] * 1e6, l[int(n * 0.99)] * 1e6, n / sum(l),
            cpu[mode][0] / n * 1e6, cpu[mode][1] / n * 1e6))
    print("WAIT calls that timed out (100 ms, no replica acknowledged): %d" % timeouts)


main()
