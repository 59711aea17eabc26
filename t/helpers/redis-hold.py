#!/usr/bin/env python3
"""A test helper: a TCP proxy in front of Redis that can hold replies back,
so that a test can keep a relay's Redis reads in flight across a reconnect
of its subscriber connection.

  redis-hold.py LISTEN_PORT REDIS_PORT

SIGUSR1 holds: the replies on every connection open at that moment are
kept back, and a SUBSCRIBE sent on any connection (with all that follows
it) is kept from Redis. Connections opened later pass until they send a
SUBSCRIBE, so a subscriber that reconnects gets through its setup.
SIGUSR2 lets go: the replies kept back are delivered first, the SUBSCRIBEs
half a second later. Each event is one line on stdout: "listening",
"hold", "held SUBSCRIBE", "released replies", "released subscribe"."""
import selectors
import signal
import socket
import sys
import time

SUBSCRIBE = b"$9\r\nSUBSCRIBE\r\n"
SUBSCRIBE_DELAY_S = 0.5


class Pair:
    def __init__(self, client, server):
        self.client, self.server = client, server
        self.hold_replies = False
        self.replies = b""       # held back from the client
        self.hold_commands = False
        self.commands = b""      # held back from Redis


pairs = {}        # socket -> Pair
holding = False
events = []       # signals, handled in the loop
release_at = None


def say(what):
    print(what, flush=True)


def on_signal(sig, frame):
    events.append(sig)


def close(sel, p):
    for s in (p.client, p.server):
        pairs.pop(s, None)
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()


def from_client(p, data):
    if holding and not p.hold_commands:
        i = data.find(SUBSCRIBE)
        if i >= 0:
            i = data.rfind(b"*", 0, i)  # the start of the command's array
            p.server.sendall(data[:i])
            data = data[i:]
            p.hold_commands = True
            say("held SUBSCRIBE")
    if p.hold_commands:
        p.commands += data
    else:
        p.server.sendall(data)


def from_server(p, data):
    if p.hold_replies:
        p.replies += data
    else:
        p.client.sendall(data)


def handle_events():
    global holding, release_at
    while events:
        sig = events.pop(0)
        if sig == signal.SIGUSR1:
            holding = True
            for p in set(pairs.values()):
                p.hold_replies = True
            say("hold")
        elif sig == signal.SIGUSR2:
            holding = False
            for p in set(pairs.values()):
                p.hold_replies = False
                if p.replies:
                    p.client.sendall(p.replies)
                    p.replies = b""
            say("released replies")
            release_at = time.monotonic() + SUBSCRIBE_DELAY_S
    if release_at and time.monotonic() >= release_at:
        release_at = None
        for p in set(pairs.values()):
            p.hold_commands = False
            if p.commands:
                p.server.sendall(p.commands)
                p.commands = b""
        say("released subscribe")


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 100
    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGUSR2, on_signal)
    lsock = socket.create_server(("127.0.0.1", int(sys.argv[1])))
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ)
    say("listening")
    while True:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            if s is lsock:
                client, _ = lsock.accept()
                server = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
                p = Pair(client, server)
                pairs[client] = pairs[server] = p
                sel.register(client, selectors.EVENT_READ)
                sel.register(server, selectors.EVENT_READ)
                continue
            p = pairs.get(s)
            if not p:
                continue
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                close(sel, p)
            elif s is p.client:
                from_client(p, data)
            else:
                from_server(p, data)
        handle_events()


if __name__ == "__main__":
    sys.exit(main())
