"""Start the benchmark's own servers on loopback, each behind a counting proxy, and stop them by PID.

Servers: two OpenBao dev servers (source and target), moto server (AWS Secrets Manager), the GCP
Secret Manager emulator and a kube-apiserver with its etcd (the test suite's, from
:mod:`airflow_secret_sync.testing.kubernetes_server`). Each runs as a child process; so does each proxy (so
that proxy work never shares the harness's interpreter lock). :meth:`Servers.stop` terminates exactly the
processes it started.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from airflow_secret_sync.testing.kubernetes_server import KubernetesServer
from airflow_secret_sync.testing.servers import free_port
from benchmarks.proxy import ProxyControl

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
VAULT_TOKEN = "bench-root-token"


def wait_http(port: int, path: str, timeout: float = 30.0, ok: tuple[int, ...] = (200,)) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status in ok:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"server on port {port} not healthy after {timeout:.0f} s")
        time.sleep(0.05)


@dataclass
class Server:
    """One backend behind one proxy."""

    name: str
    kind: str  # vault | aws | gcp | kubernetes
    process: subprocess.Popen[bytes] | None
    port: int
    proxy_process: subprocess.Popen[bytes] | None = None
    proxy_url: str = ""
    log: Path | None = None
    kubernetes: KubernetesServer | None = None  # started and stopped by its own launcher

    @property
    def pid(self) -> int:
        if self.kubernetes is not None:
            return self.kubernetes.pids[1]  # the API server (after etcd, before the controller manager)
        assert self.process is not None
        return self.process.pid

    @property
    def direct_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The address clients use: through the proxy."""
        return self.proxy_url

    @property
    def control(self) -> ProxyControl:
        return ProxyControl(self.proxy_url)


@dataclass
class Servers:
    """Every server of one benchmark run."""

    workdir: Path
    delay_ms: float = 0.0
    servers: dict[str, Server] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=self.workdir,
            start_new_session=True,  # a Ctrl-C in the harness reaches the servers only through stop()
        )

    def _spawn_printing_url(self, name: str, argv: list[str]) -> tuple[subprocess.Popen[bytes], str]:
        """Start a child that prints ``listening on URL`` as its first line."""
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline().decode().strip()
        if not line.startswith("listening on "):
            process.kill()
            raise RuntimeError(f"{name} did not start: {line!r}")
        return process, line.removeprefix("listening on ")

    def _proxy(self, server: Server) -> None:
        tls = ["--upstream-ca", str(server.kubernetes.ca_file)] if server.kubernetes is not None else []
        process, url = self._spawn_printing_url(
            f"proxy-{server.name}",
            [
                sys.executable,
                "-m",
                "benchmarks.proxy",
                "--upstream",
                f"127.0.0.1:{server.port}",
                "--kind",
                server.kind,
                "--delay-ms",
                str(self.delay_ms),
                *tls,
            ],
        )
        server.proxy_process, server.proxy_url = process, url

    def start_vault(self, name: str) -> Server:
        port = free_port()
        process = self._spawn(
            name,
            [
                str(BIN / "bao"),
                "server",
                "-dev",
                f"-dev-root-token-id={VAULT_TOKEN}",
                f"-dev-listen-address=127.0.0.1:{port}",
            ],
            env={"BAO_LOG_LEVEL": "warn"},
        )
        wait_http(port, "/v1/sys/health")
        return self._add(Server(name, "vault", process, port))

    def start_moto(self, name: str = "moto") -> Server:
        port = free_port()
        process = self._spawn(name, [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)])
        wait_http(port, "/moto-api/", timeout=60)
        return self._add(Server(name, "aws", process, port))

    def start_gcp(self, name: str = "gcp") -> Server:
        process, url = self._spawn_printing_url(
            name,
            [sys.executable, "-m", "airflow_secret_sync.testing.gcp", "--port", "0"],
        )
        port = int(url.rsplit(":", 1)[1])
        return self._add(Server(name, "gcp", process, port))

    def start_kubernetes(self, name: str = "kubernetes") -> Server:
        """kube-apiserver and etcd (binaries as the tests find them: built once and cached)."""
        kubernetes = KubernetesServer(workdir=self.workdir / name)
        kubernetes.start()
        port = int(kubernetes.url.rsplit(":", 1)[1])
        return self._add(Server(name, "kubernetes", None, port, kubernetes=kubernetes))

    def _add(self, server: Server) -> Server:
        self._proxy(server)
        self.servers[server.name] = server
        return server

    def set_delay(self, ms: float) -> None:
        self.delay_ms = ms
        for server in self.servers.values():
            server.control.set_delay(ms)

    def pids(self) -> dict[str, int]:
        pids = {}
        for server in self.servers.values():
            pids[server.name] = server.pid
            if server.proxy_process is not None:
                pids[f"proxy-{server.name}"] = server.proxy_process.pid
        return pids

    def rss_mb(self) -> dict[str, float]:
        """Current resident memory of each server process (not the proxies)."""
        return {server.name: process_rss_mb(server.pid) for server in self.servers.values()}

    def stop(self) -> None:
        processes = []
        for server in self.servers.values():
            if server.process is not None:
                processes.append(server.process)
            if server.proxy_process is not None:
                processes.append(server.proxy_process)
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                process.wait()
        for server in self.servers.values():
            if server.kubernetes is not None:
                server.kubernetes.stop()
        for log in self._logs:
            log.close()
        self.servers.clear()

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def process_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def scratch_dir(prefix: str = "secret-sync-bench-") -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def with_byte_code_cache(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """``env`` for a measured Python process: byte code cached (in ``workdir``), as an installed package's is.
    With ``PYTHONDONTWRITEBYTECODE`` set, as on these machines, every process compiles every module it
    imports again: over half of an import profile."""
    cached = {name: value for name, value in env.items() if name != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return cached
