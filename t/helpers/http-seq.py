#!/usr/bin/env python3
"""http-seq.py HOST PORT REQUEST...: sends the requests one after another on
ONE connection, each once the answer before it has been read whole, and
prints each answer as a JSON line: {"status", "headers" (names in lower
case), "body"}. A REQUEST is "METHOD PATH [OPTION...]":
  body=TEXT          send TEXT with its Content-Length
  length=N send=M    claim Content-Length N but send only M zero bytes
  nolength           no Content-Length (with send=M: M bytes all the same)
  close              ask for Connection: close
An answer that does not come whole within 5 s prints {"error": "timeout"}
(or "closed", or "bad status line" when bytes that are no answer arrive,
e.g. the body of an answer to HEAD) and ends the run. After an answer with
"connection: close" it waits (5 s at most) and prints {"end": "closed"} or
{"end": "open"}."""
import json
import socket
import sys


class Broken(Exception):
    pass


def build(spec):
    words = spec.split(" ")
    method, path, opts = words[0], words[1], words[2:]
    head = [f"{method} {path} HTTP/1.1", "Host: relay"]
    body = b""
    length = None
    for o in opts:
        if o.startswith("body="):
            body = o[5:].encode()
            length = len(body)
        elif o.startswith("length="):
            length = int(o[7:])
        elif o.startswith("send="):
            body = b"\0" * int(o[5:])
        elif o == "nolength":
            length = None
        elif o == "close":
            head.append("Connection: close")
    if length is not None:
        head.append(f"Content-Length: {length}")
    return method, ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Reader:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def more(self):
        try:
            part = self.sock.recv(65536)
        except socket.timeout:
            raise Broken("timeout")
        except OSError:
            raise Broken("closed")
        if not part:
            raise Broken("closed")
        self.buf += part

    def until(self, sep):
        while sep not in self.buf:
            self.more()
        out, self.buf = self.buf.split(sep, 1)
        return out

    def exactly(self, n):
        while len(self.buf) < n:
            self.more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def answer(reader, method):
    head = reader.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
    parts = head[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise Broken("bad status line")
    status = int(parts[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    n = 0 if method == "HEAD" or status in (204, 304) else int(headers.get("content-length", "0"))
    body = reader.exactly(n).decode("utf-8", "replace")
    return {"status": status, "headers": headers, "body": body}


def main():
    host, port, specs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    with socket.create_connection((host, port), timeout=5) as s:
        reader = Reader(s)
        for spec in specs:
            method, request = build(spec)
            try:
                s.sendall(request)
            except OSError:
                pass  # the server may answer and close before it all went out
            try:
                a = answer(reader, method)
            except Broken as e:
                print(json.dumps({"error": str(e)}))
                return
            print(json.dumps(a))
            if a["headers"].get("connection", "").lower() == "close":
                try:
                    reader.more()
                    print(json.dumps({"end": "open"}))
                except Broken as e:
                    print(json.dumps({"end": "closed" if str(e) == "closed" else "open"}))
                return


main()
