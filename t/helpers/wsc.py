#!/usr/bin/env python3
"""A test helper: a WebSocket client that prints what the server did.

  wsc.py [--protocol P]... [--header 'NAME: VALUE']... [--send-at SECONDS:TEXT]...
         [--for SECONDS] [--cafile PEM] [--source ADDR] URL

A wss:// URL is opened over TLS, its certificate checked against --cafile
(else the system's CAs); --source connects from that local address (any
of 127.0.0.0/8 stands for another client, or a proxy).

Prints "open PROTOCOL" (the subprotocol the server chose, or -) once
upgraded, or "refused STATUS"; then "frame TEXT" for each text message;
and at the end "close CODE REASON", or "open-after SECONDS" if the socket
was still open when --for (default 10) ran out. Each --send-at sends TEXT
as a text frame that many seconds after the upgrade."""
import argparse
import base64
import os
import select
import socket
import ssl
import struct
import sys
import time
from urllib.parse import urlsplit


def send_frame(sock, opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


class Reader:
    def __init__(self, sock, rest):
        self.sock, self.buf = sock, rest

    def need(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            # TLS may hold decrypted bytes that select cannot see
            buffered = isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()
            if not buffered and (left <= 0 or not select.select([self.sock], [], [], left)[0]):
                return False
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("eof")
            self.buf += data
        return True

    def frame(self, deadline):
        """(opcode, payload), or None when the deadline passed."""
        if not self.need(2, deadline):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            if not self.need(4, deadline):
                return None
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            if not self.need(10, deadline):
                return None
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        if not self.need(off + n, deadline):
            return None
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return b0 & 0x0F, payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--protocol", action="append", default=[])
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--send-at", action="append", default=[])
    ap.add_argument("--for", dest="duration", type=float, default=10)
    ap.add_argument("--cafile")
    ap.add_argument("--source")
    ap.add_argument("url")
    a = ap.parse_args()
    u = urlsplit(a.url)
    path = u.path + ("?" + u.query if u.query else "")
    tls = u.scheme in ("wss", "https")
    sock = socket.create_connection((u.hostname, u.port or (443 if tls else 80)), timeout=5,
                                    source_address=(a.source, 0) if a.source else None)
    if tls:
        sock = ssl.create_default_context(cafile=a.cafile).wrap_socket(sock, server_hostname=u.hostname)
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n")
    for h in a.header:
        req += h + "\r\n"
    if a.protocol:
        req += "Sec-WebSocket-Protocol: " + ", ".join(a.protocol) + "\r\n"
    sock.sendall((req + "\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            print("refused eof")
            return 0
        head += data
    head, rest = head.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")[1]
    if status != "101":
        print("refused " + status)
        return 0
    proto = "-"
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-protocol":
            proto = value.strip()
    print("open " + proto, flush=True)
    start = time.monotonic()
    sends = sorted((float(s.split(":", 1)[0]), s.split(":", 1)[1]) for s in a.send_at)
    r = Reader(sock, rest)
    end = start + a.duration
    while True:
        deadline = min([end] + [start + t for t, _ in sends[:1]])
        try:
            f = r.frame(deadline)
        except (ConnectionError, OSError):
            print("close 1006 ")
            return 0
        if f is None:
            if sends and time.monotonic() >= start + sends[0][0]:
                send_frame(sock, 1, sends.pop(0)[1].encode())
                continue
            if time.monotonic() >= end:
                print(f"open-after {a.duration:g}")
                return 0
            continue
        op, payload = f
        if op == 1:
            print("frame " + payload.decode("utf-8", "replace"), flush=True)
        elif op == 8:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            print(f"close {code} {payload[2:].decode('utf-8', 'replace')}")
            return 0
        elif op == 9:
            send_frame(sock, 10, payload)


if __name__ == "__main__":
    sys.exit(main())
