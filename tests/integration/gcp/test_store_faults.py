"""The GCP store on a bad day: short pages, quota errors, 503s and "504 after commit" from the emulator's
faults (issue 24). Each test fails the way Google does and checks what a user would see afterwards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import secretmanager

from airflow_secret_sync.engine.store import Marker
from tests.fixtures.gcp import GCP_PROJECT

pytestmark = pytest.mark.gcp

OURS = Marker(job="job-a", source_store="src", source_key="db/password", source_version="3")
PARENT = f"projects/{GCP_PROJECT}"
State = secretmanager.SecretVersion.State


@pytest.fixture
def client(gcp_hook_emulator: Any) -> Any:
    return gcp_hook_emulator.client()


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


def test_a_version_refused_before_commit_is_added_once_on_the_next_attempt(
    gcp_store: Callable[..., Any], gcp_hook_emulator: Any, client: Any
) -> None:
    store = gcp_store()
    store.write("busy", "one", OURS)
    gcp_hook_emulator.faults.fail("UNAVAILABLE", rpcs=["AddSecretVersion"])
    gcp_hook_emulator.faults.fail("RESOURCE_EXHAUSTED", rpcs=["AddSecretVersion"])
    assert store.write("busy", "two", OURS, expected_version="1") == "2"
    assert states(client, "busy") == {1: State.ENABLED, 2: State.ENABLED}
