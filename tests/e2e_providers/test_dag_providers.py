"""The provider jobs run by Airflow (``dag.test()`` of the DAGs the factory builds from a dags-folder file):
OpenBao -> OpenBao (two mounts), OpenBao -> files, OpenBao -> AWS Secrets Manager, files -> Parameter Store,
OpenBao -> GCP (``/`` -> ``-``), OpenBao -> Azure Key Vault, Azure Key Vault -> Secrets Manager. Each job
runs twice; the second run pushes nothing new. Values never reach XCom, the metadata DB or the task logs
(printed unmasked by ``dag.test()``, so checked as strictly).

Tasks run in this process, so the ``AIRFLOW_CONN_<ID>`` variables the fixtures set are what the hooks read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.airflow.conftest import run_dag, task_instances, write_loader, xcoms
from tests.e2e_providers.conftest import (
    AZURE_VALUES,
    FILE_VALUES,
    SECRET_VALUES,
    VAULT_VALUES,
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
from tests.fixtures.airflow import leaked_values

pytestmark = pytest.mark.airflow

# What each job reads, so what the masker must know once the job ran in this process.
SECRET_VALUES_READ = {
    "e2e-vault-to-vault": VAULT_VALUES,
    "e2e-vault-to-files": VAULT_VALUES,
    "e2e-vault-to-aws": VAULT_VALUES,
    "e2e-vault-to-gcp": VAULT_VALUES,
    "e2e-files-to-ssm": FILE_VALUES,
    "e2e-vault-to-azure": VAULT_VALUES,
    "e2e-azure-to-aws": AZURE_VALUES,
}
LOADER = "secret_sync_provider_e2e_dags"
CONFIG_FOLDER = "secret_sync_provider_e2e"


@pytest.fixture
def dag_config(dags_folder: Path, prefix: str) -> Path:
    """This test's config next to its loader file (tasks reload the config, so each test has its own)."""
    write_loader(dags_folder, LOADER, CONFIG_FOLDER, "provider-e2e-config-errors")
    return write_config(dags_folder / CONFIG_FOLDER, prefix)


@pytest.fixture
def no_leaks(airflow_home: Path, dags_folder: Path, capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    """After the test: no value in any file of ``AIRFLOW_HOME`` (the SQLite DB included) outside the dags
    folder (where the file stores live), nor in anything the runs printed."""
    yield
    assert leaked_values(airflow_home, SECRET_VALUES, skip=dags_folder) == {}
    printed = capfd.readouterr()
    assert values_in(printed.out + printed.err) == []


@pytest.fixture
def run_job(dag_config: Path, dags_folder: Path) -> Callable[[Scenario], dict[str, Any]]:
    """Run one scenario's DAG with ``dag.test()``; check the run, return its push summary."""
    from airflow.sdk.log import redact

    def run(scenario: Scenario) -> dict[str, Any]:
        dag_run = run_dag(dags_folder, LOADER, scenario.job)
        tis = task_instances(dag_run)
        states = {key: ti.state for key, ti in tis.items()}
        assert dag_run.state == "success", states
        assert {state for (task, _), state in states.items() if task != "delete"} == {"success"}
        # no target here has more keys than keysPerPush: its deletions ran in push, delete is skipped
        assert {state for (task, _), state in states.items() if task == "delete"} == {"skipped"}
        (store,) = [store for (task, _), store in _push_stores(tis).items() if task == "push"]
        summary = xcoms(dag_run)[("push", 0, "summary")]
        assert summary["store"] == store and not summary["failed"]
        # every value read in the run was registered with the masker
        assert all(redact(value) != value for value in SECRET_VALUES_READ[scenario.job])
        return summary

    return run


def _push_stores(tis: dict[tuple[str, int], Any]) -> dict[tuple[str, int], str]:
    """The mapped push instances, named after their target store (``map_index_template``)."""
    return {key: ti.rendered_map_index for key, ti in tis.items() if key[0] == "push"}


def sync_twice(run: Callable[[Scenario], dict[str, Any]], scenario: Scenario) -> None:
    """The first run creates every key; the second finds every key unchanged and moves nothing."""
    counts = run(scenario)["counts"]
    assert counts["create"] == len(scenario.target_keys) and counts["error"] == 0
    scenario.check_written()
    before = scenario.target_state()
    counts = run(scenario)["counts"]
    assert counts["unchanged"] == len(scenario.target_keys) and counts["create"] == counts["update"] == 0
    assert scenario.target_state() == before


def test_no_connection_lives_in_the_metadata_db(airflow_home: Path) -> None:
    """The hooks can only have used the ``AIRFLOW_CONN_*`` variables."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        assert session.query(Connection).filter(Connection.conn_id.like("e2e%")).count() == 0


@pytest.mark.vault
@pytest.mark.usefixtures("no_leaks")
def test_vault_jobs_through_airflow(
    run_job: Any, vault_side: VaultSide, dag_config: Path, airflow_home: Path, dags_folder: Path
) -> None:
    sync_twice(run_job, vault_to_vault(vault_side))
    sync_twice(run_job, vault_to_files(vault_side, dag_config))
    # the leak search does see what the runs stored: key names are in XCom, in the metadata DB
    assert leaked_values(airflow_home, ["app/api/token"], skip=dags_folder)


@pytest.mark.vault
@pytest.mark.aws
@pytest.mark.usefixtures("no_leaks")
def test_aws_jobs_through_airflow(
    run_job: Any, vault_side: VaultSide, aws_side: AwsSide, prefix: str
) -> None:
    sync_twice(run_job, vault_to_aws(vault_side, aws_side))
    sync_twice(run_job, files_to_ssm(aws_side, prefix))


@pytest.mark.vault
@pytest.mark.gcp
@pytest.mark.usefixtures("no_leaks")
def test_vault_to_gcp_through_airflow(run_job: Any, vault_side: VaultSide, gcp_side: GcpSide) -> None:
    sync_twice(run_job, vault_to_gcp(vault_side, gcp_side))
    assert all(versions == {"1": "ENABLED"} for versions in gcp_side.versions().values())


@pytest.mark.vault
@pytest.mark.aws
@pytest.mark.azure
@pytest.mark.usefixtures("no_leaks")
def test_azure_key_vault_jobs_through_airflow(
    run_job: Any, vault_side: VaultSide, azure_side: AzureSide, aws_side: AwsSide, prefix: str
) -> None:
    sync_twice(run_job, vault_to_azure(vault_side, azure_side))
    assert all(len(versions) == 1 for versions in azure_side.versions().values())
    sync_twice(run_job, azure_to_aws(azure_side, aws_side, prefix))
