"""A counting, delaying loopback HTTP proxy placed in front of each benchmark server.

Every request is counted by method and API call kind, so calls per secret are measured, not guessed. A
fixed delay per request (default 20 ms) stands in for a cloud API round trip: on loopback the servers
answer in about a millisecond, which hides what concurrency and fewer calls buy in production.

The proxy is threaded (one thread per client connection), keeps connections alive on both sides and sets
``TCP_NODELAY`` everywhere. It serves its own control endpoints, which are neither forwarded nor counted:

* ``GET /__proxy/counts``: ``{"counts": {"read:GET data": 12, ...}, "in_flight": {"mean": 15.2, "max": 16,
  "seconds": 3.1}, "delay_ms": 20.0}`` (requests in flight since the last reset: time-weighted mean, maximum)
* ``POST /__proxy/reset``: zero the counts
* ``POST /__proxy/delay?ms=20``: change the delay

Run it::

    python -m benchmarks.proxy --upstream 127.0.0.1:8200 --kind vault --delay-ms 20
    # listening on http://127.0.0.1:41235        <- first line on stdout
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import signal
import socket
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

CONTROL_PREFIX = "/__proxy/"
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

# ------------------------------------------------------------------------------------------ call kinds
# A kind is "<category>:<call>", categories: list, read, meta-read, write, meta-write, delete, other.

_VAULT_PATH = re.compile(r"^/v1/(?P<mount>[^/]+)/(?P<area>data|metadata|delete|destroy|undelete)(?:/|$)")


def vault_kind(method: str, path: str, headers: dict[str, str]) -> str:
    parts = urlsplit(path)
    match = _VAULT_PATH.match(parts.path)
    if not match:
        return f"other:{method} {parts.path.split('/', 3)[2] if parts.path.count('/') > 1 else parts.path}"
    area = match["area"]
    if method == "LIST" or (method == "GET" and "list=true" in parts.query):
        return "list:LIST"
    if area == "data":
        category = {"GET": "read", "POST": "write", "PUT": "write", "DELETE": "delete"}.get(method, "other")
    elif area == "metadata":
        category = {"GET": "meta-read", "DELETE": "delete"}.get(method, "meta-write")
    else:
        category = "delete"
    return f"{category}:{method} {area}"


_AWS_CATEGORIES = {
    "ListSecrets": "list",
    "ListSecretVersionIds": "list",
    "GetSecretValue": "read",
    "BatchGetSecretValue": "read",
    "DescribeSecret": "meta-read",
    "CreateSecret": "write",
    "PutSecretValue": "write",
    "UpdateSecret": "write",
    "TagResource": "meta-write",
    "UntagResource": "meta-write",
    "UpdateSecretVersionStage": "meta-write",
    "DeleteSecret": "delete",
}


def aws_kind(method: str, path: str, headers: dict[str, str]) -> str:
    target = headers.get("x-amz-target", "")
    call = target.rpartition(".")[2] if target else f"{method} {urlsplit(path).path}"
    return f"{_AWS_CATEGORIES.get(call, 'other')}:{call}"


_GCP_RULES: tuple[tuple[str, str, str], ...] = (
    # (method or *, regular expression on the path, kind)
    ("*", r"/versions/[^/]+:access$", "read:access"),
    ("*", r":addVersion$", "write:addVersion"),
    ("*", r"/versions/[^/]+:(disable|enable|destroy)$", "meta-write:versionState"),
    ("GET", r"/versions/[^/:]+$", "meta-read:getVersion"),
    ("GET", r"/versions$", "list:listVersions"),
    ("GET", r"/secrets/[^/:]+$", "meta-read:getSecret"),
    ("PATCH", r"/secrets/[^/:]+$", "meta-write:updateSecret"),
    ("DELETE", r"/secrets/[^/:]+$", "delete:deleteSecret"),
    ("GET", r"/secrets$", "list:listSecrets"),
    ("POST", r"/secrets$", "write:createSecret"),
)


def gcp_kind(method: str, path: str, headers: dict[str, str]) -> str:
    plain = urlsplit(path).path
    for rule_method, pattern, kind in _GCP_RULES:
        if rule_method in ("*", method) and re.search(pattern, plain):
            return kind
    return f"other:{method} {plain.rsplit('/', 1)[-1]}"


_KUBERNETES_SECRET = re.compile(r"/secrets(?P<name>/[^/]+)?$")


def kubernetes_kind(method: str, path: str, headers: dict[str, str]) -> str:
    match = _KUBERNETES_SECRET.search(urlsplit(path).path)
    if match is None:
        return f"other:{method}"
    if not match["name"]:
        return {"GET": "list:LIST secrets", "POST": "write:create"}.get(method, f"other:{method} secrets")
    if method == "PATCH" and "apply-patch" in headers.get("content-type", ""):
        return "write:apply"
    category = {"GET": "read", "PUT": "write", "PATCH": "write", "DELETE": "delete"}.get(method, "other")
    return f"{category}:{method} secret"


def generic_kind(method: str, path: str, headers: dict[str, str]) -> str:
    return f"other:{method}"


CLASSIFIERS: dict[str, Callable[[str, str, dict[str, str]], str]] = {
    "vault": vault_kind,
    "aws": aws_kind,
    "gcp": gcp_kind,
    "kubernetes": kubernetes_kind,
    "http": generic_kind,
}

# ------------------------------------------------------------------------------------------ server


class CountingProxy(ThreadingHTTPServer):
    """Forwards every request to ``upstream`` after ``delay`` seconds, counting it by kind."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self,
        listen: tuple[str, int],
        upstream: tuple[str, int],
        classify: Callable[[str, str, dict[str, str]], str],
        delay: float = 0.0,
        upstream_tls: ssl.SSLContext | None = None,
    ) -> None:
        super().__init__(listen, _ProxyHandler)
        self.upstream = upstream
        self.upstream_tls = upstream_tls
        self.classify = classify
        self.delay = delay
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.busy = 0.0  # integral of requests in flight over time: busy / elapsed = mean concurrency
        self.since = self.last = time.monotonic()

    def _advance(self) -> None:
        now = time.monotonic()
        self.busy += self.active * (now - self.last)
        self.last = now

    def begin(self, kind: str) -> None:
        with self.lock:
            self.counts[kind] += 1
            self._advance()
            self.active += 1
            self.max_active = max(self.max_active, self.active)

    def end(self) -> None:
        with self.lock:
            self._advance()
            self.active -= 1

    def snapshot(self) -> dict[str, object]:
        with self.lock:
            self._advance()
            return {
                "counts": dict(self.counts),
                "in_flight": {
                    "mean": self.busy / max(self.last - self.since, 1e-9),
                    "max": self.max_active,
                    "seconds": self.last - self.since,
                },
            }

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()
            self.busy = 0.0
            self.max_active = self.active
            self.since = self.last = time.monotonic()


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: CountingProxy

    def setup(self) -> None:
        super().setup()
        self._upstream: http.client.HTTPConnection | None = None

    def finish(self) -> None:
        super().finish()
        if self._upstream is not None:
            self._upstream.close()

    def log_message(self, format: str, *args: object) -> None:  # quiet: the benchmark prints its own
        pass

    def handle_one_request(self) -> None:
        """Like the base class, but any method (Vault's ``LIST`` too) goes to :meth:`forward`."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.send_error(414)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return
            if self.path.startswith(CONTROL_PREFIX):
                self.control()
            else:
                self.forward()
            self.wfile.flush()
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return b""

    def _reply(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    def _connection(self) -> http.client.HTTPConnection:
        if self._upstream is None:
            host, port = self.server.upstream
            if self.server.upstream_tls is not None:
                self._upstream = http.client.HTTPSConnection(
                    host, port, timeout=300, context=self.server.upstream_tls
                )
            else:
                self._upstream = http.client.HTTPConnection(host, port, timeout=300)
        return self._upstream

    def forward(self) -> None:
        body = self._body()
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        kind = self.server.classify(self.command, self.path, {k.lower(): v for k, v in headers.items()})
        self.server.begin(kind)
        try:
            self._forward(body, headers)
        finally:
            self.server.end()

    def _forward(self, body: bytes, headers: dict[str, str]) -> None:
        if self.server.delay:
            time.sleep(self.server.delay)
        for attempt in (1, 2):
            connection = self._connection()
            reused = connection.sock is not None
            try:
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                connection.close()
                self._upstream = None
                if attempt == 2 or not reused:  # retry only a stale kept-alive connection, once
                    self.close_connection = True
                    self._reply(502, "Bad Gateway", [("Content-Type", "text/plain")], b"upstream failed")
                    return
        if response.will_close:
            connection.close()
            self._upstream = None
        out = [(name, value) for name, value in response.getheaders() if name.lower() not in HOP_BY_HOP]
        self._reply(response.status, response.reason, out, data)

    def control(self) -> None:
        self._body()
        parts = urlsplit(self.path)
        action = parts.path[len(CONTROL_PREFIX) :]
        if action == "counts":
            payload = {**self.server.snapshot(), "delay_ms": self.server.delay * 1000}
        elif action == "reset" and self.command == "POST":
            self.server.reset()
            payload = {"ok": True}
        elif action == "delay" and self.command == "POST":
            self.server.delay = float(parse_qs(parts.query).get("ms", ["0"])[0]) / 1000
            payload = {"delay_ms": self.server.delay * 1000}
        else:
            self._reply(404, "Not Found", [("Content-Type", "text/plain")], b"unknown control call")
            return
        self._reply(200, "OK", [("Content-Type", "application/json")], json.dumps(payload).encode())


# ------------------------------------------------------------------------------------------ client side


class ProxyControl:
    """Reads and resets a running proxy's counts over its control endpoints."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80

    def _call(self, method: str, path: str) -> dict[str, object]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            connection.request(method, CONTROL_PREFIX + path)
            response = connection.getresponse()
            data: dict[str, object] = json.loads(response.read())
            return data
        finally:
            connection.close()

    def counts(self) -> dict[str, int]:
        counts = self._call("GET", "counts")["counts"]
        assert isinstance(counts, dict)
        return {str(kind): int(number) for kind, number in counts.items()}

    def in_flight(self) -> dict[str, float]:
        """Requests in flight since the last reset: the time-weighted mean and the maximum."""
        data = self._call("GET", "counts")["in_flight"]
        assert isinstance(data, dict)
        return {str(name): float(value) for name, value in data.items()}

    def reset(self) -> None:
        self._call("POST", "reset")

    def set_delay(self, ms: float) -> None:
        self._call("POST", f"delay?ms={ms}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proxy", description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT of the server behind the proxy")
    parser.add_argument("--kind", choices=sorted(CLASSIFIERS), default="http", help="how calls are named")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay-ms", type=float, default=20.0, help="fixed delay added to every request")
    parser.add_argument(
        "--upstream-ca", help="the upstream speaks HTTPS with a certificate signed by this CA (PEM file)"
    )
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    tls = ssl.create_default_context(cafile=args.upstream_ca) if args.upstream_ca else None
    server = CountingProxy(
        (args.host, args.port), (host, int(port)), CLASSIFIERS[args.kind], args.delay_ms / 1000, tls
    )
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    print(f"listening on http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
