#!/usr/bin/env python3
"""raw-http.py HOST PORT: sends stdin as is (a request curl would refuse to
make: a bad chunked body, a lowercase method, a huge header) and prints
whatever comes back until the server closes or 5 s pass."""
import socket
import sys

def main():
    host, port = sys.argv[1], int(sys.argv[2])
    request = sys.stdin.buffer.read()
    with socket.create_connection((host, port), timeout=5) as s:
        try:
            s.sendall(request)
        except OSError:
            pass  # the server may answer and close before it all went out
        out = b""
        try:
            while True:
                part = s.recv(65536)
                if not part:
                    break
                out += part
        except OSError:
            pass
    sys.stdout.buffer.write(out)

main()
