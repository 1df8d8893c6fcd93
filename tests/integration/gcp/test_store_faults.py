"""The GCP store on a bad day: short pages, quota errors, 503s and "504 after commit" from the emulator's
faults (issue 24). Each test fails the way Google does and checks what a user would see afterwards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.cloud import secretmanager

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.store import Marker
from airflow_secret_sync.engine.sync import SyncOptions
from airflow_secret_sync.providers.gcp.marker import marker_of
from airflow_secret_sync.runtime import JobRun
from tests.fixtures.gcp import GCP_PROJECT

pytestmark = pytest.mark.gcp

OURS = Marker(job="job-a", source_store="src", source_key="db/password", source_version="3")
PARENT = f"projects/{GCP_PROJECT}"
State = secretmanager.SecretVersion.State


@pytest.fixture
def client(gcp_hook_emulator: Any) -> Any:
    return gcp_hook_emulator.client()


ADOPTING_JOB = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: files}
spec:
  provider: {file: {path: ./files}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: gsm}
spec:
  permissions: ReadWrite
  provider:
    gcp: {connId: gcp_test, keepVersions: 1}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: files-to-gsm}
spec:
  source: files
  targets: [gsm]
  conflictPolicy: Adopt
  plan:
    - secret: {key: db-password}
"""


@pytest.fixture
def adopting_job(tmp_path: Path, gcp_connection: Callable[..., str]) -> Callable[[], dict[str, str]]:
    """A job adopting secret ``db-password`` (value ``ours``); a call is a run: {key: "action: reason"}."""
    gcp_connection(retry_deadline=0.5)  # a fault switched on for good fails fast
    (tmp_path / "stores.yaml").write_text(ADOPTING_JOB)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "db-password").write_text("ours")
    config = load_config(tmp_path)
    assert not config.errors, config.errors

    def run() -> dict[str, str]:
        with JobRun(config, "files-to-gsm") as job_run:
            report = job_run.push(job_run.transform(job_run.query())["gsm"], SyncOptions(run_id="test"))
        return {record.target_key: f"{record.action.value}: {record.reason}" for record in report.records}

    return run


def theirs(client: Any, key: str, labels: dict[str, str] | None = None) -> None:
    """A secret someone else made, with one version."""
    secret = {"replication": {"automatic": {}}, "labels": labels or {}}
    client.create_secret(request={"parent": PARENT, "secret_id": key, "secret": secret})
    client.add_secret_version(request={"parent": f"{PARENT}/secrets/{key}", "payload": {"data": b"theirs"}})


def latest(client: Any, key: str) -> tuple[str, Marker | None]:
    """The value of ``latest`` and the secret's marker."""
    name = f"{PARENT}/secrets/{key}"
    value = client.access_secret_version(request={"name": f"{name}/versions/latest"}).payload.data.decode()
    return value, marker_of(client.get_secret(request={"name": name}))


def states(client: Any, key: str) -> dict[int, Any]:
    versions = client.list_secret_versions(request={"parent": f"{PARENT}/secrets/{key}"})
    return {int(version.name.rsplit("/", 1)[-1]): version.state for version in versions}


def test_an_empty_first_page_of_versions_does_not_hide_the_newest_enabled_one(
    gcp_store: Callable[..., Any], gcp_hook_emulator: Any, client: Any
) -> None:
    store = gcp_store()
    store.write("paged", "one", OURS)
    store.write("paged", "two", OURS, expected_version="1")
    client.disable_secret_version(request={"name": f"{PARENT}/secrets/paged/versions/2"})
    gcp_hook_emulator.faults.short_pages(0)  # Google may answer an empty page with a next-page token
    record = store.read("paged")
    assert record is not None and (record.value, record.version) == ("one", "1")


def test_a_version_whose_answer_is_lost_after_commit_is_not_added_twice(
    gcp_store: Callable[..., Any], gcp_hook_emulator: Any, client: Any
) -> None:
    store = gcp_store(keepVersions=1)
    store.write("ambiguous", "one", OURS)
    gcp_hook_emulator.faults.fail("DEADLINE_EXCEEDED", rpcs=["AddSecretVersion"], after_commit=True)
    assert store.write("ambiguous", "two", OURS, expected_version="1") == "2"
    # one billed version per write, and keepVersions still retires the one before
    assert states(client, "ambiguous") == {1: State.DISABLED, 2: State.ENABLED}
    record = store.read("ambiguous")
    assert record is not None and (record.value, record.version) == ("two", "2")


def test_a_new_secret_whose_answers_are_lost_after_commit_gets_one_version(
    gcp_store: Callable[..., Any], gcp_hook_emulator: Any, client: Any
) -> None:
    store = gcp_store()
    gcp_hook_emulator.faults.fail(
        "DEADLINE_EXCEEDED", rpcs=["CreateSecret", "AddSecretVersion"], after_commit=True, times=2
    )
    assert store.write("lost", "first", OURS) == "1"
    assert states(client, "lost") == {1: State.ENABLED}
    assert store.read_marker("lost") == OURS


def test_a_write_refused_before_commit_lands_once_on_the_next_attempt(
    gcp_store: Callable[..., Any], gcp_hook_emulator: Any, client: Any
) -> None:
    store = gcp_store()
    gcp_hook_emulator.faults.fail("UNAVAILABLE", rpcs=["CreateSecret"])  # read back, absent: created again
    store.write("busy", "one", OURS)
    gcp_hook_emulator.faults.fail("UNAVAILABLE", rpcs=["AddSecretVersion"])
    gcp_hook_emulator.faults.fail("RESOURCE_EXHAUSTED", rpcs=["AddSecretVersion"])
    assert store.write("busy", "two", OURS, expected_version="1") == "2"
    assert states(client, "busy") == {1: State.ENABLED, 2: State.ENABLED}


@pytest.mark.parametrize("failing", ["UpdateSecret", "AddSecretVersion"])
def test_a_failure_between_marker_and_value_never_leaves_our_value_unmarked_and_the_next_run_converges(
    adopting_job: Callable[[], dict[str, str]], gcp_hook_emulator: Any, client: Any, failing: str
) -> None:
    theirs(client, "db-password")
    gcp_hook_emulator.faults.fail("UNAVAILABLE", rpcs=[failing], times=1000)
    assert adopting_job()["db-password"].startswith("error: ")
    value, marker = latest(client, "db-password")
    assert value == "theirs" or (marker is not None and marker.job == "files-to-gsm")

    gcp_hook_emulator.faults.clear()
    assert adopting_job()["db-password"] == "update: value changed"
    value, marker = latest(client, "db-password")
    assert value == "ours" and marker is not None and marker.job == "files-to-gsm"
    assert states(client, "db-password") == {1: State.ENABLED, 2: State.ENABLED}  # theirs stays: not ours


def test_a_marker_google_would_refuse_is_refused_before_the_value_is_written(
    adopting_job: Callable[[], dict[str, str]], client: Any
) -> None:
    theirs(client, "db-password", labels={f"label-{number}": "x" for number in range(63)})
    assert adopting_job()["db-password"] == (
        "error: GCP store 'gsm', key 'db-password': with the ownership marker's the secret would have 65 "
        "labels; Google allows 64: nothing was written"
    )
    assert latest(client, "db-password") == ("theirs", None)
    assert states(client, "db-password") == {1: State.ENABLED}
