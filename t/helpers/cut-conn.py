#!/usr/bin/env python3
"""A test helper: opens TCP connections to HOST PORT that end before the
server has a whole request, as port scanners, TCP health checks and
impatient browsers do, and exits 0 once all of them are done.

  cut-conn.py HOST PORT MODE [COUNT]
MODE: close (connect, close with no data), reset (connect, RST),
      health-reset (half a GET /health, then RST), upgrade-reset (a whole
      upgrade request, then RST before reading the 101), upgrade-close (the
      same, closed with FIN), partial (half a request line, then FIN),
      upgrade-closeframe (an upgrade for a session of its own, cutfN-I, and
      a close frame in the same write; then reads until the server closes),
      upgrade-resume-closeframe (the same with a resume on the URL and a
      reconnect frame before the close frame)."""
import os
import socket
import struct
import sys

UPGRADE = (b"GET /ws/chat?session_id=cut&user_id=cut HTTP/1.1\r\n"
           b"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")
# a masked close frame, code 1000, mask 0: what a client that gives up at
# once sends right behind its upgrade request
CLOSE_FRAME = bytes([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8])
MID = b"0123456789abcdef0123456789abcdef"
RECONNECT = b'{"type":"reconnect","messageId":"' + MID + b'","lastChunkIndex":3}'
RECONNECT_FRAME = bytes([0x81, 0x80 | len(RECONNECT), 0, 0, 0, 0]) + RECONNECT
SEND = {
    "close": b"", "reset": b"", "health-reset": b"GET /health HTTP/1.1\r\nHo",
    "upgrade-reset": UPGRADE, "upgrade-close": UPGRADE, "partial": b"GET /hea",
    "upgrade-closeframe": None, "upgrade-resume-closeframe": None,
}


def upgrade_closeframe(s, i, resume):
    query = b"session_id=cutf%d-%d&" % (os.getpid(), i)
    if resume:
        query += b"messageId=" + MID + b"&lastChunkIndex=1&"
    s.sendall(UPGRADE.replace(b"session_id=cut&", query) +
              (RECONNECT_FRAME if resume else b"") + CLOSE_FRAME)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass


def one(host, port, mode, i):
    s = socket.create_connection((host, port), timeout=5)
    if mode.endswith("closeframe"):
        upgrade_closeframe(s, i, mode == "upgrade-resume-closeframe")
    elif SEND[mode]:
        s.sendall(SEND[mode])
    if mode.endswith("reset"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def main():
    if len(sys.argv) < 4 or sys.argv[3] not in SEND:
        sys.stderr.write(__doc__)
        return 100
    for i in range(int(sys.argv[4]) if len(sys.argv) > 4 else 1):
        one(sys.argv[1], int(sys.argv[2]), sys.argv[3], i)
    return 0


if __name__ == "__main__":
    sys.exit(main())
