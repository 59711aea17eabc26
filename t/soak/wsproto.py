"""The soak's network clients, on asyncio streams and the standard library
only: a WebSocket client (RFC 6455: masked text frames, ping/pong, close
codes, fragments) that can also misbehave on purpose (cut its connection
with a reset, or in the middle of a frame it is sending), a one-request
HTTP/1.1 client for the API, and a small RESP client for Redis."""
import asyncio
import base64
import json
import os
import socket
import struct


class Closed(Exception):
    """The connection ended: code is the server's close code, or 1006."""

    def __init__(self, code, reason=""):
        super().__init__(f"{code} {reason}")
        self.code, self.reason = code, reason


class WebSocket:
    def __init__(self, reader, writer, sock):
        self.reader, self.writer, self.sock = reader, writer, sock
        self.closed = None  # Closed once the connection ended
        self._parts = []

    @classmethod
    async def connect(cls, host, port, path, timeout=3.0, rcvbuf=0, limit=1 << 16):
        """Opens a socket and upgrades it; raises OSError or Closed on refusal.
        rcvbuf > 0 makes a small receive window (a client that means to
        read slowly), set before connect so that the server sees it."""
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, (host, port))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                reader, writer = await asyncio.open_connection(sock=sock, limit=limit)
                key = base64.b64encode(os.urandom(16)).decode()
                writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                              "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as e:
            sock.close()
            raise OSError(f"no upgrade answer: {type(e).__name__}") from None
        except OSError:
            sock.close()
            raise
        if head[9:12] != b"101":
            sock.close()
            raise OSError("upgrade refused: " + head.split(b"\r\n", 1)[0].decode(errors="replace"))
        return cls(reader, writer, sock)

    def _frame(self, opcode, payload, fin=True, length=None):
        mask = os.urandom(4)
        n = len(payload) if length is None else length
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        return head + mask + body

    async def send_text(self, text):
        if self.closed:
            raise self.closed
        try:
            self.writer.write(self._frame(1, text.encode()))
            await self.writer.drain()
        except OSError:
            self._lost(1006, "send failed")
            raise self.closed from None

    async def recv(self):
        """The next text message (str); raises Closed when the connection ends."""
        if self.closed:
            raise self.closed
        try:
            while True:
                b0, b1 = await self.reader.readexactly(2)
                n = b1 & 127
                if n == 126:
                    n = struct.unpack("!H", await self.reader.readexactly(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
                mask = await self.reader.readexactly(4) if b1 & 0x80 else None
                data = await self.reader.readexactly(n)
                if mask:
                    data = bytes(b ^ mask[i & 3] for i, b in enumerate(data))
                op = b0 & 15
                if op == 8:
                    code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                    try:
                        self.writer.write(self._frame(8, data[:2]))
                    except OSError:
                        pass
                    self._lost(code, data[2:].decode(errors="replace"))
                    raise self.closed
                if op == 9:
                    self.writer.write(self._frame(10, data))
                    continue
                if op in (0, 1):
                    self._parts.append(data)
                    if b0 & 0x80:
                        msg, self._parts = b"".join(self._parts), []
                        return msg.decode()
        except (asyncio.IncompleteReadError, OSError):
            self._lost(1006, "connection lost")
            raise self.closed from None

    def _lost(self, code, reason):
        if not self.closed:
            self.closed = Closed(code, reason)
        try:
            self.writer.transport.abort()
        except Exception:
            pass

    async def close(self):
        """A polite close: our close frame (1000), then the socket."""
        if self.closed:
            return
        try:
            self.writer.write(self._frame(8, struct.pack("!H", 1000)))
            await asyncio.wait_for(self.writer.drain(), 1)
        except Exception:
            pass
        self._lost(1000, "closed by client")

    def cut(self, how):
        """Ends the connection rudely: 'reset' (RST), 'fin' (no close frame),
        'midframe' (half of a frame sent, then RST)."""
        if self.closed:
            return
        try:
            if how == "midframe":
                frame = self._frame(1, b'{"type":"heartbeat","pad":"' + b"x" * 40 + b'"}')
                self.sock.send(frame[:len(frame) // 2])
            if how in ("reset", "midframe"):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if how == "fin":
                self.writer.transport.close()
                self.closed = Closed(1006, "cut by client (fin)")
                return
        except OSError:
            pass
        self._lost(1006, f"cut by client ({how})")


async def http_json(host, port, method, path, body=None, timeout=5.0):
    """One HTTP/1.1 request with Connection: close; returns (status, parsed
    JSON or None). Raises OSError on a connection that fails."""
    data = json.dumps(body).encode() if body is not None else b""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write((f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                          "Content-Type: application/json\r\nConnection: close\r\n"
                          f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
            raw = await reader.read()
        finally:
            writer.transport.abort()
    head, _, rest = raw.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError("no HTTP answer") from None
    try:
        return status, json.loads(rest) if rest else None
    except ValueError:
        return status, None


class Redis:
    """Blocking RESP client: enough for the fault injector and the scan."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            more = self.sock.recv(65536)
            if not more:
                raise OSError("redis closed the connection")
            self.buf += more
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            more = self.sock.recv(max(65536, n + 2 - len(self.buf)))
            if not more:
                raise OSError("redis closed the connection")
            self.buf += more
        out, self.buf = self.buf[:n], self.buf[n + 2:]
        return out

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode(errors="surrogateescape")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise OSError(f"bad RESP line {line!r}")

    def pipeline(self, commands):
        """Sends every command, then reads every reply (errors as RedisError values)."""
        out = b""
        for cmd in commands:
            out += b"*%d\r\n" % len(cmd)
            for a in cmd:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return [self._reply() for _ in commands]

    def __call__(self, *cmd):
        r = self.pipeline([cmd])[0]
        if isinstance(r, RedisError):
            raise r
        return r


class RedisError(Exception):
    pass
