"""The pre-commit hook (``.pre-commit-hooks.yaml``) runs ``secret-sync validate`` as pre-commit would."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "dags" / "secret_sync"


@pytest.fixture(scope="module")
def hook() -> dict[str, Any]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [entry["id"] for entry in hooks] == ["secret-sync-validate"]
    return hooks[0]


def run_hook(
    hook: dict[str, Any], args: list[str], files: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """What pre-commit runs: the entry, then the hook's args, then the file names unless they are off."""
    command = shlex.split(hook["entry"]) + args + (files if hook.get("pass_filenames", True) else [])
    # The console script installed next to this interpreter, as in pre-commit's own environment.
    command[0] = shutil.which(command[0], path=str(Path(sys.executable).parent)) or command[0]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_the_manifest_declares_a_python_hook(hook: dict[str, Any]) -> None:
    assert {"id", "name", "entry", "language"} <= set(hook)
    assert hook["language"] == "python"  # pre-commit installs this repository (and its console script)
    assert hook["entry"].split()[:2] == ["secret-sync", "validate"]


def test_the_hook_runs_on_yaml_changes_only_and_once(hook: dict[str, Any]) -> None:
    files = re.compile(hook["files"])
    assert files.search("secret-sync/jobs.yaml") and files.search("stores.yml")
    assert not files.search("dags/secret_sync_dags.py")
    # One run over the whole folder, not one per batch of changed files.
    assert hook["pass_filenames"] is False and hook["require_serial"] is True


def test_the_hook_validates_the_folder_given_as_args(hook: dict[str, Any], tmp_path: Path) -> None:
    changed = ["dags/secret_sync/job-local-files.yaml"]
    result = run_hook(hook, ["dags/secret_sync"], changed, cwd=REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("valid: ") and " 0 errors" in result.stdout

    broken = tmp_path / "secret-sync"
    shutil.copytree(EXAMPLES, broken, ignore=shutil.ignore_patterns("example-output"))
    job = broken / "job-local-files.yaml"
    job.write_text(job.read_text().replace("source: example-source", "source: example-sauce"))
    result = run_hook(hook, ["secret-sync"], ["secret-sync/job-local-files.yaml"], cwd=tmp_path)
    assert result.returncode == 2
    assert "job-local-files.yaml: SyncJob 'example-local-files': spec.source" in result.stdout


def test_changed_files_alone_would_not_do(tmp_path: Path) -> None:
    """Why the hook takes no file names: a job file alone does not declare the stores it uses."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow_secret_sync.cli", "validate", str(EXAMPLES / "job-local-files.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "unknown SecretStore 'example-source'" in result.stdout
