"""``secret-sync`` starts fast on jobs that need no connection: no Airflow, no provider client library is
imported (Airflow alone takes seconds), while an installation that Airflow holds is still found.

Not timed: the imports are what is checked; ``benchmarks/cli_startup.py`` measures the time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_secret_sync.providers.file.store import FileSecretStore
from benchmarks.cli_startup import user_environment, write_job

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("airflow", "boto3", "botocore", "hvac", "google", "kubernetes", "azure", "croniter")
PROBE = """
import contextlib, io, json, sys
from airflow_secret_sync.cli import main

config, heavy, commands = sys.argv[1], tuple(sys.argv[2].split(",")), sys.argv[3].split(",")
arguments = {"validate": [config], "plan": ["three-keys", "-c", config], "run": ["three-keys", "-c", config]}
codes = []
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    for command in commands:
        codes.append(main([command, *arguments[command]]))
loaded = sorted({name.split(".")[0] for name in sys.modules if name.split(".")[0] in heavy})
print(json.dumps({"codes": codes, "loaded": loaded}))
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_job(tmp_path)


def probe(config: Path, env: dict[str, str], commands: str = "validate,plan,run") -> dict[str, object]:
    """Run ``commands`` in a fresh process; their exit codes and the heavy packages they imported."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE), str(config), ",".join(HEAVY), commands],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_validate_plan_and_run_of_a_file_job_import_neither_airflow_nor_a_client_library(
    config: Path, tmp_path: Path
) -> None:
    result = probe(config, user_environment(tmp_path / "airflow-home"))

    assert result == {"codes": [0, 0, 0], "loaded": []}
    assert FileSecretStore(tmp_path / "dst").read_marker("app/key-0") is not None


def test_an_installation_in_a_connection_variable_is_still_found(config: Path, tmp_path: Path) -> None:
    env = user_environment(tmp_path / "airflow-home")
    env["AIRFLOW_CONN_SECRET_SYNC_INSTALLATION"] = json.dumps(
        {"conn_type": "generic", "login": "from-variable", "password": "a-long-hash-key-0001"}
    )

    result = probe(config, env, commands="run")

    assert result["codes"] == [0]
    marker = FileSecretStore(tmp_path / "dst").read_marker("app/key-0")
    assert marker is not None and marker.installation == "from-variable"


def test_an_installation_in_a_configured_secrets_backend_is_still_found(config: Path, tmp_path: Path) -> None:
    airflow_home = tmp_path / "airflow-home"
    airflow_home.mkdir()
    connections = tmp_path / "connections.json"
    connections.write_text(
        json.dumps(
            {
                "secret_sync_installation": {
                    "conn_type": "generic",
                    "login": "from-backend",
                    "password": "a-long-hash-key-0002",
                }
            }
        )
    )
    (airflow_home / "airflow.cfg").write_text(
        "[secrets]\n"
        "backend = airflow.secrets.local_filesystem.LocalFilesystemBackend\n"
        f'backend_kwargs = {{"connections_file_path": "{connections}"}}\n'
    )

    result = probe(config, user_environment(airflow_home), commands="run")

    assert result["codes"] == [0]
    marker = FileSecretStore(tmp_path / "dst").read_marker("app/key-0")
    assert marker is not None and marker.installation == "from-backend"
