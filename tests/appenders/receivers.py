"""Real local receivers for the appender tests, all on 127.0.0.1 (or a unix socket in tmp).

A capturing HTTP server (Bugsnag, New Relic, Splunk HEC) that can answer 500 / 429, answer
too late, or hang; UDP, TCP (octet-counting) and unix-datagram syslog listeners; a TCP server
that accepts and never answers; a port nobody listens on; and a custom appender class.
"""

from __future__ import annotations

import collections
import gzip
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from appenders import DeliveryError, Record


def closed_port() -> int:
    """A TCP/UDP port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HttpReceiver:
    """Captures POSTs. ``script(...)`` sets what the next requests get: a status code (not
    captured), ``"late"`` (answered after ``late_seconds``, not captured) or ``"hang"``."""

    def __init__(self, late_seconds: float = 1.0) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.attempts = 0
        self.hang = False
        self.late_seconds = late_seconds
        self._script: collections.deque[int | str] = collections.deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/") -> str:
        """The URL of ``path`` on this server."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def script(self, *actions: int | str) -> None:
        """Answer the next requests with these actions, then normally."""
        with self._lock:
            self._script.extend(actions)

    def _next_action(self) -> int | str:
        with self._lock:
            self.attempts += 1
            if self.hang:
                return "hang"
            return self._script.popleft() if self._script else 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                action = receiver._next_action()
                if action == "hang":
                    receiver._release.wait(30)
                    return
                if action == "late":
                    receiver._release.wait(receiver.late_seconds)
                elif action == 200:
                    with receiver._lock:
                        receiver.bodies.append(body)
                        receiver.headers.append(dict(self.headers))
                self.send_response(200 if action == "late" else int(action))
                if action == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        return Handler

    def close(self) -> None:
        """Release hanging requests and stop the server."""
        self._release.set()
        self.server.shutdown()
        self.server.server_close()


def bugsnag_messages(body: bytes) -> list[str]:
    """The log messages in a Bugsnag notification."""
    return [e["metaData"]["log"]["message"] for e in json.loads(body)["events"]]


def newrelic_messages(body: bytes) -> list[str]:
    """The log messages in a New Relic Log API payload."""
    return [log["message"] for block in json.loads(body) for log in block["logs"]]


def splunk_messages(body: bytes) -> list[str]:
    """The log messages in a Splunk HEC request (concatenated JSON events)."""
    return [json.loads(line)["event"]["message"] for line in body.splitlines() if line]


class _Listener:
    """A socket read by a thread; ``messages`` holds the raw syslog messages received."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.messages: list[bytes] = []
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop listening."""
        self._closed.set()
        self.sock.close()


class DatagramListener(_Listener):
    """UDP on 127.0.0.1, or a unix datagram socket at ``path``."""

    def __init__(self, path: str | None = None) -> None:
        if path is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
        else:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
        sock.settimeout(0.2)
        self.address = sock.getsockname()
        super().__init__(sock)

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self.sock.recv(65536))
            except TimeoutError:
                continue
            except OSError:
                return


class TcpListener(_Listener):
    """TCP syslog with RFC 6587 octet-counting frames; ``connections`` counts accepts."""

    def __init__(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(0.2)
        self.port = sock.getsockname()[1]
        self.connections = 0
        self.reads = 0
        super().__init__(sock)

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buffer = b""
        with conn:
            while not self._closed.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                self.reads += 1
                buffer += data
                buffer = self._frames(buffer)

    def _frames(self, buffer: bytes) -> bytes:
        while b" " in buffer:
            length, _, rest = buffer.partition(b" ")
            if len(rest) < int(length):
                break
            self.messages.append(rest[: int(length)])
            buffer = rest[int(length) :]
        return buffer


class HangServer:
    """Accepts TCP connections and never reads or answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        """Close the listening socket (and with it the pending connections)."""
        self.sock.close()


def syslog_text(message: bytes) -> str:
    """The MSG part of an RFC 5424 message written by the syslog appender."""
    return message.decode().split("] ", 1)[1].split("\n", 1)[0]


#: What ListAppender instances received, by ``sink`` name.
SINKS: dict[str, list[Record]] = collections.defaultdict(list)


class ListAppender:
    """A custom appender for the tests: appends to ``SINKS[sink]``; the first ``fail_first``
    batches raise a transient error; ``stall`` makes every call wait ``timeout`` seconds."""

    def __init__(
        self, sink: str, fail_first: int = 0, stall: bool = False, timeout: float = 5.0
    ) -> None:
        self.sink = sink
        self.timeout = timeout
        self.fail_first = fail_first
        self.stall = threading.Event() if stall else None
        self.calls = 0

    def emit(self, record: Record) -> None:
        """Record one record (or fail / stall as configured)."""
        self.calls += 1
        if self.stall is not None:
            self.stall.wait(self.timeout)
            raise DeliveryError("stalled")
        if self.calls <= self.fail_first:
            raise DeliveryError("scripted failure")
        SINKS[self.sink].append(record)
