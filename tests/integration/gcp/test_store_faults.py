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
