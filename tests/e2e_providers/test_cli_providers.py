"""``secret-sync run`` between real servers: OpenBao -> OpenBao (two mounts), OpenBao -> files, OpenBao -> AWS
Secrets Manager, files -> Parameter Store, OpenBao -> GCP (``/`` -> ``-``),
OpenBao -> Azure Key Vault, Azure Key Vault -> Secrets Manager. Each job runs twice: the second
run reports ``unchanged`` for every key and moves no version. No value is ever printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.cli import main
from tests.e2e_providers.conftest import (
    AwsSide,
    AzureSide,
    GcpSide,
    Scenario,
    VaultSide,
    azure_to_aws,
    files_to_ssm,
    values_in,
    vault_to_aws,
    vault_to_azure,
    vault_to_files,
    vault_to_gcp,
    vault_to_vault,
    write_config,
)
from tests.missing import missing

SECRET_SYNC = Path(sys.executable).parent / "secret-sync"
Runner = Callable[[Path, str], dict[str, str]]


@pytest.fixture
def config(tmp_path: Path, prefix: str) -> Path:
    return write_config(tmp_path / "config", prefix)


def in_process(capsys: pytest.CaptureFixture[str]) -> Runner:
    """``secret-sync run JOB -o json`` through :func:`main` in this process."""

    def run(config: Path, job: str) -> dict[str, str]:
        code = main(["run", job, "-c", str(config), "--output", "json", "--no-progress"])
        out, err = capsys.readouterr()
        assert values_in(out + err) == [], "a secret value reached the CLI output"
        assert code == 0, err
        return actions(json.loads(out))

    return run


def console_script(config: Path, job: str) -> dict[str, str]:
    """The installed ``secret-sync run JOB -o json`` in a process of its own, with this process's env.

    Only the results may be on stdout (Airflow's log lines go to stderr), so the JSON parses.
    """
    command = [str(SECRET_SYNC), "run", job, "-c", str(config), "--output", "json"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ, timeout=120)
    assert values_in(done.stdout + done.stderr) == [], "a secret value reached the CLI output"
    assert done.returncode == 0, done.stderr
    return actions(json.loads(done.stdout))


def actions(rows: list[dict[str, Any]]) -> dict[str, str]:
    return {row["targetKey"]: row["action"] for row in rows}


def sync_twice(run: Runner, config: Path, scenario: Scenario) -> None:
    """First run creates every key; the second finds every key unchanged and writes nothing."""
    assert run(config, scenario.job) == dict.fromkeys(scenario.target_keys, "create")
    scenario.check_written()
    before = scenario.target_state()

    assert run(config, scenario.job) == dict.fromkeys(scenario.target_keys, "unchanged")
    assert scenario.target_state() == before


@pytest.mark.vault
def test_vault_to_vault_across_mounts_and_vault_to_files(
    config: Path, vault_side: VaultSide, capsys: pytest.CaptureFixture[str]
) -> None:
    sync_twice(in_process(capsys), config, vault_to_files(vault_side, config))
    sync_twice(in_process(capsys), config, vault_to_vault(vault_side))


@pytest.mark.vault
@pytest.mark.aws
def test_vault_to_secrets_manager(
    config: Path, vault_side: VaultSide, aws_side: AwsSide, capsys: pytest.CaptureFixture[str]
) -> None:
    sync_twice(in_process(capsys), config, vault_to_aws(vault_side, aws_side))


@pytest.mark.aws
def test_files_to_parameter_store(
    config: Path, prefix: str, aws_side: AwsSide, capsys: pytest.CaptureFixture[str]
) -> None:
    sync_twice(in_process(capsys), config, files_to_ssm(aws_side, prefix))


@pytest.mark.vault
@pytest.mark.gcp
def test_vault_to_gcp_with_slash_to_dash_rule_by_the_console_script(
    config: Path, vault_side: VaultSide, gcp_side: GcpSide
) -> None:
    """The real command in its own process: both connections come from ``AIRFLOW_CONN_*`` JSON alone."""
    if not SECRET_SYNC.exists():
        missing(f"the secret-sync console script at {SECRET_SYNC} (install the package into the environment)")
    assert json.loads(os.environ["AIRFLOW_CONN_E2E_VAULT"])["conn_type"] == "secret_sync_vault"
    assert json.loads(os.environ["AIRFLOW_CONN_E2E_GCP"])["conn_type"] == "secret_sync_gcp"
    sync_twice(console_script, config, vault_to_gcp(vault_side, gcp_side))
    assert all(versions == {"1": "ENABLED"} for versions in gcp_side.versions().values())


@pytest.mark.vault
@pytest.mark.azure
def test_vault_to_azure_key_vault(
    config: Path, vault_side: VaultSide, azure_side: AzureSide, capsys: pytest.CaptureFixture[str]
) -> None:
    """Maps become JSON secrets named with '/' as '--'; the second run adds no version."""
    sync_twice(in_process(capsys), config, vault_to_azure(vault_side, azure_side))
    assert all(len(versions) == 1 for versions in azure_side.versions().values())


@pytest.mark.aws
@pytest.mark.azure
def test_azure_key_vault_to_secrets_manager_by_the_console_script(
    config: Path, prefix: str, azure_side: AzureSide, aws_side: AwsSide
) -> None:
    """The real command in its own process: the Key Vault connection is plain ``AIRFLOW_CONN_*`` JSON."""
    if not SECRET_SYNC.exists():
        missing(f"the secret-sync console script at {SECRET_SYNC} (install the package into the environment)")
    assert json.loads(os.environ["AIRFLOW_CONN_E2E_AZURE"])["conn_type"] == "secret_sync_azure_key_vault"
    sync_twice(console_script, config, azure_to_aws(azure_side, aws_side, prefix))
