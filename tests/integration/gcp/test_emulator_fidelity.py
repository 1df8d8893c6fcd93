"""The emulator refuses what Google refuses and fails the way Google fails on a bad day (issue 24).

Each test drives the real ``google-cloud-secret-manager`` client (REST) against the emulator, as the
provider does, so a rule that the emulator did not enforce would let provider bugs through.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
import requests
from google.api_core import exceptions as gexc

from airflow_secret_sync.testing.gcp import REGIONS, SecretManagerEmulator
from tests.integration.gcp.test_emulator import PROJECT, add_version, make_secret, rest_status

pytestmark = pytest.mark.gcp


def names(pages: Any) -> list[list[str]]:
    return [[s.name.rsplit("/", 1)[1] for s in page.secrets] for page in pages]


# --------------------------------------------------------------------------- requests Google refuses


@pytest.mark.parametrize("location", ["mars-north1", "us-east99", "europe"])
def test_a_made_up_region_is_refused(gcp_sm_client: Any, location: str) -> None:
    assert location not in REGIONS
    with pytest.raises(gexc.BadRequest) as regional:
        gcp_sm_client.create_secret(
            request={"parent": f"{PROJECT}/locations/{location}", "secret_id": "s", "secret": {}}
        )
    assert rest_status(regional) == "INVALID_ARGUMENT"
    with pytest.raises(gexc.BadRequest) as replica:
        make_secret(gcp_sm_client, "s", replication={"user_managed": {"replicas": [{"location": location}]}})
    assert rest_status(replica) == "INVALID_ARGUMENT"
    assert list(gcp_sm_client.list_secrets(parent=PROJECT)) == []


def test_real_regions_are_accepted(gcp_sm_client: Any) -> None:
    for location in ("europe-west1", "us-central1", "asia-southeast1"):
        created = gcp_sm_client.create_secret(
            request={"parent": f"{PROJECT}/locations/{location}", "secret_id": "s", "secret": {}}
        )
        assert created.name == f"{PROJECT}/locations/{location}/secrets/s"


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        (f"/v1/{PROJECT}/secrets?secretId=s", {"replication": {"automatic": {}}, "colour": "red"}, "secret"),
        (
            f"/v1/{PROJECT}/secrets?secretId=s",
            {"replication": {"automatic": {}, "everywhere": True}},
            "secret.replication",
        ),
        (f"/v1/{PROJECT}/secrets/existing:addVersion", {"payload": {"data": "eA==", "size": 1}}, "payload"),
    ],
    ids=["secret", "replication", "payload"],
)
def test_unknown_request_fields_are_refused(
    gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator, path: str, body: dict[str, Any], where: str
) -> None:
    make_secret(gcp_sm_client, "existing")
    answer = requests.post(gcp_sm_emulator.url + path, json=body, timeout=10)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "Unknown name" in error["message"] and f"at '{where}'" in error["message"]
    assert [s.name.rsplit("/", 1)[1] for s in gcp_sm_client.list_secrets(parent=PROJECT)] == ["existing"]


# --------------------------------------------------------------------------- fault modes


def test_quota_errors_are_429_with_quota_details(
    gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator
) -> None:
    secret = make_secret(gcp_sm_client, "s")
    gcp_sm_emulator.faults.fail("RESOURCE_EXHAUSTED", rpcs=["AddSecretVersion"], times=2)
    for _ in range(2):
        with pytest.raises(gexc.TooManyRequests) as excinfo:
            add_version(gcp_sm_client, secret.name, b"x")
        assert rest_status(excinfo) == "RESOURCE_EXHAUSTED"
        assert "Quota exceeded" in excinfo.value.message
    assert list(gcp_sm_client.list_secret_versions(parent=secret.name)) == []  # nothing was written
    assert add_version(gcp_sm_client, secret.name, b"x").name.endswith("/versions/1")  # then it passes


def test_unavailable_is_503_and_touches_only_the_rpcs_named(
    gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator
) -> None:
    gcp_sm_emulator.faults.fail("UNAVAILABLE", rpcs=["CreateSecret"])
    assert list(gcp_sm_client.list_secrets(parent=PROJECT)) == []  # another RPC: unaffected
    with pytest.raises(gexc.ServiceUnavailable) as excinfo:
        gcp_sm_client.create_secret(
            request={"parent": PROJECT, "secret_id": "s", "secret": {"replication": {"automatic": {}}}},
            retry=None,
        )
    assert rest_status(excinfo) == "UNAVAILABLE"
    assert list(gcp_sm_client.list_secrets(parent=PROJECT)) == []


def test_a_504_after_commit_has_written(gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator) -> None:
    """The response fails but the version exists: a blind retry would add a second, billed version."""
    secret = make_secret(gcp_sm_client, "s")
    gcp_sm_emulator.faults.fail("DEADLINE_EXCEEDED", rpcs=["AddSecretVersion"], after_commit=True)
    with pytest.raises(gexc.GatewayTimeout) as excinfo:
        gcp_sm_client.add_secret_version(
            request={"parent": secret.name, "payload": {"data": b"landed"}}, retry=None
        )
    assert rest_status(excinfo) == "DEADLINE_EXCEEDED"
    versions = list(gcp_sm_client.list_secret_versions(parent=secret.name))
    assert [v.name.rsplit("/", 1)[1] for v in versions] == ["1"]
    assert gcp_sm_client.access_secret_version(name=f"{secret.name}/versions/1").payload.data == b"landed"


def test_short_and_empty_pages_still_carry_the_rest(
    gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator
) -> None:
    """pageSize is a maximum: an empty first page with a next-page token does not mean 'no secrets'."""
    for index in range(4):
        make_secret(gcp_sm_client, f"s{index}")
    gcp_sm_emulator.faults.short_pages(0, 1)
    pages = list(gcp_sm_client.list_secrets(request={"parent": PROJECT, "page_size": 3}).pages)
    assert names(pages) == [[], ["s3"], ["s2", "s1", "s0"]]
    assert pages[0].next_page_token and pages[1].next_page_token and not pages[2].next_page_token


def test_short_pages_apply_to_version_listings(
    gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator
) -> None:
    secret = make_secret(gcp_sm_client, "s")
    for value in (b"a", b"b"):
        add_version(gcp_sm_client, secret.name, value)
    gcp_sm_emulator.faults.short_pages(0)
    pages = list(
        gcp_sm_client.list_secret_versions(request={"parent": secret.name, "filter": "state:ENABLED"}).pages
    )
    assert [[v.name.rsplit("/", 1)[1] for v in page.versions] for page in pages] == [[], ["2", "1"]]


def test_faults_switch_on_over_http_and_a_reset_clears_them(
    gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator
) -> None:
    settings = {"fail": [{"status": "UNAVAILABLE", "rpcs": ["ListSecrets"], "times": 5}], "pageSizes": [0]}
    assert requests.post(f"{gcp_sm_emulator.url}/emulator/faults", json=settings, timeout=10).ok
    with pytest.raises(gexc.ServiceUnavailable):
        gcp_sm_client.list_secrets(parent=PROJECT, retry=None)
    assert requests.post(f"{gcp_sm_emulator.url}/emulator/reset", timeout=10).ok
    make_secret(gcp_sm_client, "after-reset")
    pages = list(gcp_sm_client.list_secrets(parent=PROJECT).pages)
    assert names(pages) == [["after-reset"]]  # neither the 503s nor the short page survived the reset


def test_payload_data_in_a_fault_is_not_echoed(
    gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator
) -> None:
    secret = make_secret(gcp_sm_client, "s")
    gcp_sm_emulator.faults.fail("UNAVAILABLE", rpcs=["AddSecretVersion"])
    value = "fault-payload-value-77"
    answer = requests.post(
        f"{gcp_sm_emulator.url}/v1/{secret.name}:addVersion",
        json={"payload": {"data": base64.b64encode(value.encode()).decode()}},
        timeout=10,
    )
    assert answer.status_code == 503 and value not in answer.text
