"""A loopback HTTP proxy that injects faults between the Airflow tasks and a store's server.

Threads in the test process; one upstream connection per client connection (keep-alive on both sides).
Per request, with the probabilities of the current :class:`Faults`, it may answer an error without
forwarding (5xx or 429, in the upstream's own error format), close the connection without forwarding, or
forward the request and then close the connection without answering (the write happened, the client never
hears of it). Requests matching ``fail`` always get a 500. ``delay`` slows every request down.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


@dataclass(frozen=True)
class Faults:
    """What the proxy does to the next requests. Probabilities are per request."""

    error: float = 0.0  # answer 500 / 503 / 429 without forwarding
    drop: float = 0.0  # close the connection without forwarding
    drop_after: float = 0.0  # forward, then close the connection without answering
    fail: str | None = None  # a regular expression searched in "METHOD PATH X-Amz-Target": always answer 500
    lose_reply: str | None = None  # a regular expression: every other matching request gets "drop_after"
    delay: float = 0.0  # seconds added to every request


def _error_body(kind: str, status: int) -> tuple[bytes, dict[str, str]]:
    if kind == "aws":
        code = "ThrottlingException" if status == 429 else "InternalFailure"
        body = {"__type": code, "message": "injected fault"}
        return json.dumps(body).encode(), {
            "Content-Type": "application/x-amz-json-1.1",
            "x-amzn-ErrorType": code,
        }
    return json.dumps({"errors": ["injected fault"]}).encode(), {"Content-Type": "application/json"}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that go away (a killed task, a dropped connection) are part of the game


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to ``upstream`` (``host:port``), injecting :class:`Faults`.

    :param kind: ``vault`` or ``aws``: the error body format of the upstream.
    """

    def __init__(self, upstream: str, kind: str, *, seed: int = 7) -> None:
        self.upstream = upstream
        self.kind = kind
        self.faults = Faults()
        self.counts: Counter[str] = Counter()
        self.recent: deque[str] = deque(maxlen=200)  # "decision request" lines, for failure messages
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def set(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults

    def _decide(self, request: str) -> str:
        decision = self._choose(request)
        self.recent.append(f"{decision} {request}")
        return decision

    def _choose(self, request: str) -> str:
        with self._lock:
            faults = self.faults
            if faults.fail and re.search(faults.fail, request):
                self.counts["fail"] += 1
                return "fail"
            if faults.lose_reply and re.search(faults.lose_reply, request):
                self.counts["lose_reply"] += 1
                if self.counts["lose_reply"] % 2:
                    self.counts["drop_after"] += 1
                    return "drop_after"
            roll = self._random.random()
            for name in ("error", "drop", "drop_after"):
                chance = getattr(faults, name)
                if roll < chance:
                    self.counts[name] += 1
                    return name
                roll -= chance
            self.counts["forward"] += 1
            return "forward"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            upstream_conn: http.client.HTTPConnection | None = None

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.faults.delay:
                    time.sleep(proxy.faults.delay)
                target = self.headers.get("X-Amz-Target", "")
                decision = proxy._decide(f"{self.command} {self.path} {target}")
                if decision == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if decision in ("error", "fail"):
                    status = 500 if decision == "fail" else proxy._random.choice((500, 503, 429))
                    payload, headers = _error_body(proxy.kind, status)
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                status, reason, headers, payload = self.forward(body)
                if decision == "drop_after":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def forward(self, body: bytes | None) -> tuple[int, str, list[tuple[str, str]], bytes]:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                for attempt in (1, 2):
                    if self.upstream_conn is None:
                        self.upstream_conn = http.client.HTTPConnection(proxy.upstream, timeout=60)
                    try:
                        self.upstream_conn.request(self.command, self.path, body=body, headers=headers)
                        response = self.upstream_conn.getresponse()
                        return response.status, response.reason, response.getheaders(), response.read()
                    except (ConnectionError, http.client.HTTPException):
                        self.upstream_conn.close()
                        self.upstream_conn = None
                        if attempt == 2:
                            raise
                raise AssertionError("unreachable")

            def finish(self) -> None:
                if self.upstream_conn is not None:
                    self.upstream_conn.close()
                super().finish()

        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "LIST"):
            setattr(Handler, f"do_{method}", Handler.handle_one)
        return Handler
