#!/usr/bin/env python3
"""Speaks raw FastCGI to a responder's socket, as a hostile local peer would.

usage: fcgi-poke.py SOCKET MODE [HOLD_SECONDS]
  get       a well-formed GET /api/health; prints the response's Status line
  bigname   a PARAMS record whose one pair announces a name of 2 GB and a
            value of 256 MB (Debian 12's libfcgi aborts on it), then prints
            "closed after N s" when the responder closes, "held" if it does
            not within HOLD_SECONDS
  bigalloc  the same with a name of 2 GB - 3 and an empty value (libfcgi
            allocates the 2 GB, then waits for them)
  stall     a POST announcing CONTENT_LENGTH 65536 that sends one byte of it,
            then holds the connection open HOLD_SECONDS (default 30); prints
            "closed after N s" if the responder drops it first, "held" if not
SOCKET is a unix socket path, or HOST:PORT.
"""
import socket
import struct
import sys
import time

BEGIN, END, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6


def record(rtype, content=b"", rid=1):
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), 0) + content


def length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def pairs(env):
    out = b""
    for k, v in env.items():
        k, v = k.encode(), v.encode()
        out += length(len(k)) + length(len(v)) + k + v
    return out


def connect(where):
    if ":" in where and not where.startswith("/"):
        host, port = where.rsplit(":", 1)
        s = socket.create_connection((host, int(port)))
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(where)
    return s


def begin(s):
    s.sendall(record(BEGIN, struct.pack(">HB5x", 1, 0)))


def wait_closed(s, hold):
    """Seconds until the peer closed, or None if it held on for hold seconds."""
    t0 = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - t0 < hold:
        try:
            if s.recv(65536) == b"":
                return time.monotonic() - t0
        except socket.timeout:
            continue
        except OSError:
            return time.monotonic() - t0
    return None


def main():
    where, mode = sys.argv[1], sys.argv[2]
    hold = float(sys.argv[3]) if len(sys.argv) > 3 else 30
    s = connect(where)
    begin(s)
    if mode == "get":
        env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/api/health", "CONTENT_LENGTH": ""}
        s.sendall(record(PARAMS, pairs(env)) + record(PARAMS) + record(STDIN))
        data = b""
        s.settimeout(hold)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        out = b""
        while len(data) >= 8:
            _, rtype, _, clen, plen = struct.unpack(">BBHHB", data[:7])
            if rtype == STDOUT:
                out += data[8:8 + clen]
            data = data[8 + clen + plen:]
        print(out.split(b"\r\n", 1)[0].decode())
    elif mode in ("bigname", "bigalloc"):
        name, value = (0x7FFFFFF0, 0x0FFFFFF0) if mode == "bigname" else (0x7FFFFFFD, 0)
        s.sendall(record(PARAMS, length(name) + length(value) + b"x" * 100))
        closed = wait_closed(s, hold)
        print("held" if closed is None else "closed after %.1f s" % closed)
    elif mode == "stall":
        env = {"REQUEST_METHOD": "POST", "REQUEST_URI": "/api/chat", "CONTENT_LENGTH": "65536"}
        s.sendall(record(PARAMS, pairs(env)) + record(PARAMS) + record(STDIN, b"{"))
        closed = wait_closed(s, hold)
        print("held" if closed is None else "closed after %.1f s" % closed)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
