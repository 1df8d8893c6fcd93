"""The server launcher (``airflow_secret_sync.testing.servers``): ready when it answers, nothing left behind.

The commands here are tiny Python programs that behave like servers do on a bad day: exit at once, never
answer, or fork a helper. Each test checks that every process the launcher started is gone afterwards.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from airflow_secret_sync.testing.servers import (
    MissingTool,
    ServerStartError,
    console_script,
    free_port,
    http_ready,
    launch,
)

# Starts a helper process (as servers do with workers), writes both PIDs, prints a line, then serves HTTP.
FORKING_SERVER = """
import http.server, subprocess, sys, pathlib
helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
pathlib.Path(sys.argv[1]).write_text(f"{helper.pid}")
print("starting up, then serving", flush=True)
if sys.argv[2] != "never":
    handler = http.server.SimpleHTTPRequestHandler
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), handler).serve_forever()
import time; time.sleep(600)
"""


def gone(pid: int, timeout: float = 10) -> bool:
    """True once ``pid`` no longer runs (a zombie waiting for its parent counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_a_server_that_answers_is_yielded_and_stopped_with_what_it_forked(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    helper_file = tmp_path / "helper.pid"
    argv = [sys.executable, "-c", FORKING_SERVER, str(helper_file), str(port)]
    with launch("forking", argv, url=url, ready=http_ready(url), log_dir=tmp_path) as server:
        assert http_ready(url)()
        helper = int(helper_file.read_text())
        assert not gone(server.pid, timeout=0.1) and not gone(helper, timeout=0.1)
    assert gone(server.pid) and gone(helper)
    assert not http_ready(url)()


def test_a_server_that_exits_at_once_raises_with_its_last_output(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('cannot bind: address in use', flush=True); raise SystemExit(3)"]
    quitter = launch("quitter", argv, url="http://127.0.0.1:1", ready=lambda: False, log_dir=tmp_path)
    with pytest.raises(ServerStartError) as excinfo, quitter:
        pytest.fail("a server that exited must not be yielded")
    assert "quitter exited with code 3" in str(excinfo.value)
    assert "cannot bind: address in use" in str(excinfo.value)


def test_a_server_that_never_answers_is_stopped_with_its_helpers(tmp_path: Path) -> None:
    helper_file = tmp_path / "helper.pid"
    argv = [sys.executable, "-c", FORKING_SERVER, str(helper_file), "never"]
    started = time.monotonic()
    with (
        pytest.raises(ServerStartError) as excinfo,
        launch("silent", argv, url="http://127.0.0.1:1", ready=lambda: False, log_dir=tmp_path, timeout=3),
    ):
        pytest.fail("a server that never became ready must not be yielded")
    assert time.monotonic() - started < 30
    assert "silent was not ready within 3 s" in str(excinfo.value)
    assert "starting up, then serving" in str(excinfo.value)
    assert gone(int(helper_file.read_text()))


def test_a_missing_executable_names_the_package_to_install() -> None:
    with pytest.raises(MissingTool, match=r"no-such-server.*install no-such-package"):
        console_script("no-such-server", "no-such-package")


def test_free_ports_stay_out_of_the_range_outgoing_connections_draw_from() -> None:
    low, _ = (int(part) for part in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = {free_port() for _ in range(20)}
    assert all(10000 <= port < low for port in ports)
    assert len(ports) > 1  # picked at random, so parallel test runs rarely collide
