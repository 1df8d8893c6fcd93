"""The Secret Manager emulator, exercised through the real ``google-cloud-secret-manager`` client.

Over REST, ``google.api_core`` picks the exception class from the HTTP status alone, so a 400 is
``BadRequest`` (never ``InvalidArgument``/``FailedPrecondition``) and a 409 is ``Conflict`` (never
``AlreadyExists``); the canonical code is in the JSON body.  That is true of the real service too.
The gRPC tests show the specific classes that transport raises.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import google_crc32c
import pytest
import requests
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import secretmanager
from google.protobuf import field_mask_pb2

from airflow_secret_sync.testing.gcp import (
    MAX_PAYLOAD_BYTES,
    SecretManagerBackend,
    SecretManagerEmulator,
)

pytestmark = pytest.mark.gcp

PROJECT = "projects/test-project"
ENABLED, DISABLED, DESTROYED = 1, 2, 3
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
ETAG = re.compile(r'"[0-9a-f]+"')
REPO_ROOT = Path(__file__).resolve().parents[3]
State = secretmanager.SecretVersion.State


def make_secret(client: Any, secret_id: str, *, parent: str = PROJECT, **fields: Any) -> Any:
    secret: dict[str, Any] = {"replication": {"automatic": {}}}
    secret.update(fields)
    return client.create_secret(request={"parent": parent, "secret_id": secret_id, "secret": secret})


def add_version(client: Any, secret_name: str, data: bytes, *, checksum: bool = True) -> Any:
    payload: dict[str, Any] = {"data": data}
    if checksum:
        payload["data_crc32c"] = google_crc32c.value(data)
    return client.add_secret_version(request={"parent": secret_name, "payload": payload})


def rest_status(excinfo: pytest.ExceptionInfo[gexc.GoogleAPICallError]) -> str:
    """The canonical code (``google.rpc.Code`` name) the server put in the JSON error body."""
    response = excinfo.value.response
    assert response is not None
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == response.status_code
    return str(body["error"]["status"])


def raw(emulator: SecretManagerEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", 10)
    return requests.request(method, emulator.url + path, **kwargs)


# --------------------------------------------------------------------------- secrets


def test_create_and_get_secret(gcp_sm_client: Any) -> None:
    created = make_secret(
        gcp_sm_client, "db-password", labels={"env": "prod", "team": "core"}, annotations={"owner": "me"}
    )
    assert created.name == f"{PROJECT}/secrets/db-password"
    assert secretmanager.Replication.pb(created.replication).HasField("automatic")
    assert dict(created.labels) == {"env": "prod", "team": "core"}
    assert dict(created.annotations) == {"owner": "me"}
    assert ETAG.fullmatch(created.etag)
    assert created.create_time.timestamp() == pytest.approx(time.time(), abs=60)

    fetched = gcp_sm_client.get_secret(name=created.name)
    assert fetched == created


def test_create_user_managed_replication(gcp_sm_client: Any) -> None:
    replicas = [{"location": "us-east1"}, {"location": "europe-west1"}]
    created = make_secret(
        gcp_sm_client, "regional-copy", replication={"user_managed": {"replicas": replicas}}
    )
    assert [r.location for r in created.replication.user_managed.replicas] == ["us-east1", "europe-west1"]
    version = add_version(gcp_sm_client, created.name, b"v")
    assert [r.location for r in version.replication_status.user_managed.replicas] == [
        "us-east1",
        "europe-west1",
    ]


@pytest.mark.parametrize(
    "replication",
    [
        None,
        {"user_managed": {"replicas": []}},
        {"user_managed": {"replicas": [{"location": "us-east1"}, {"location": "us-east1"}]}},
    ],
    ids=["missing", "no-replicas", "duplicate-replica"],
)
def test_create_rejects_bad_replication(gcp_sm_client: Any, replication: Any) -> None:
    with pytest.raises(gexc.BadRequest) as excinfo:
        make_secret(gcp_sm_client, "s", replication=replication)
    assert rest_status(excinfo) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("secret_id", ["a!", "with space", "dot.ted", "x" * 256, "ünïcode"])
def test_invalid_secret_id_rejected(gcp_sm_client: Any, secret_id: str) -> None:
    with pytest.raises(gexc.BadRequest) as excinfo:
        make_secret(gcp_sm_client, secret_id)
    assert rest_status(excinfo) == "INVALID_ARGUMENT"
    assert list(gcp_sm_client.list_secrets(parent=PROJECT)) == []


def test_empty_secret_id_rejected(gcp_sm_client: Any) -> None:
    with pytest.raises(gexc.BadRequest) as excinfo:
        make_secret(gcp_sm_client, "")
    assert rest_status(excinfo) == "INVALID_ARGUMENT"


@pytest.mark.parametrize("secret_id", ["A", "Mixed-Case_id-09", "x" * 255, "_", "-"])
def test_valid_secret_ids_accepted(gcp_sm_client: Any, secret_id: str) -> None:
    assert make_secret(gcp_sm_client, secret_id).name.endswith("/" + secret_id)


@pytest.mark.parametrize(
    "labels",
    [
        {"Env": "prod"},
        {"1env": "prod"},
        {"_env": "prod"},
        {"env": "Prod"},
        {"env": "pr.od"},
        {"k" * 64: "v"},
        {"env": "v" * 64},
        {"": "v"},
        {f"k{i}": "v" for i in range(65)},
    ],
    ids=[
        "upper-key",
        "digit-first",
        "underscore-first",
        "upper-value",
        "dot-value",
        "long-key",
        "long-value",
        "empty-key",
        "too-many",
    ],
)
def test_invalid_labels_rejected(gcp_sm_client: Any, labels: dict[str, str]) -> None:
    with pytest.raises(gexc.BadRequest) as excinfo:
        make_secret(gcp_sm_client, "labelled", labels=labels)
    assert rest_status(excinfo) == "INVALID_ARGUMENT"


def test_valid_labels_accepted(gcp_sm_client: Any) -> None:
    labels = {"k" * 63: "v" * 63, "env": "", "a-b_c9": "0-x_y", "ключ": "значение"}
    labels.update({f"n{i}": "x" for i in range(60)})
    assert len(labels) == 64
    assert dict(make_secret(gcp_sm_client, "labelled", labels=labels).labels) == labels


def test_duplicate_create_is_conflict_already_exists(gcp_sm_client: Any) -> None:
    make_secret(gcp_sm_client, "dup")
    with pytest.raises(gexc.Conflict) as excinfo:
        make_secret(gcp_sm_client, "dup")
    assert rest_status(excinfo) == "ALREADY_EXISTS"


def test_missing_resources_are_not_found(gcp_sm_client: Any) -> None:
    name = f"{PROJECT}/secrets/ghost"
    calls = [
        lambda: gcp_sm_client.get_secret(name=name),
        lambda: gcp_sm_client.delete_secret(name=name),
        lambda: add_version(gcp_sm_client, name, b"x"),
        lambda: gcp_sm_client.get_secret_version(name=f"{name}/versions/1"),
        lambda: gcp_sm_client.access_secret_version(name=f"{name}/versions/latest"),
        lambda: list(gcp_sm_client.list_secret_versions(parent=name)),
    ]
    for call in calls:
        with pytest.raises(gexc.NotFound) as excinfo:
            call()
        assert rest_status(excinfo) == "NOT_FOUND"

    real = make_secret(gcp_sm_client, "real")
    add_version(gcp_sm_client, real.name, b"x")
    with pytest.raises(gexc.NotFound):
        gcp_sm_client.access_secret_version(name=f"{real.name}/versions/2")


# --------------------------------------------------------------------------- listing


def test_list_pagination_newest_first(gcp_sm_client: Any) -> None:
    for index in range(7):
        make_secret(gcp_sm_client, f"s{index}")

    first = gcp_sm_client.list_secrets(request={"parent": PROJECT, "page_size": 3})
    page = next(iter(first.pages))
    assert [s.name.rsplit("/", 1)[1] for s in page.secrets] == ["s6", "s5", "s4"]
    assert page.total_size == 7
    assert page.next_page_token

    second = gcp_sm_client.list_secrets(
        request={"parent": PROJECT, "page_size": 3, "page_token": page.next_page_token}
    )
    page2 = next(iter(second.pages))
    assert [s.name.rsplit("/", 1)[1] for s in page2.secrets] == ["s3", "s2", "s1"]

    # The pager walks every page on its own.
    pager = gcp_sm_client.list_secrets(request={"parent": PROJECT, "page_size": 3})
    assert [s.name.rsplit("/", 1)[1] for s in pager] == [f"s{i}" for i in range(6, -1, -1)]
    assert [
        len(p.secrets) for p in gcp_sm_client.list_secrets(request={"parent": PROJECT, "page_size": 3}).pages
    ] == [
        3,
        3,
        1,
    ]


def test_list_is_scoped_to_project_and_location(gcp_sm_client: Any) -> None:
    make_secret(gcp_sm_client, "mine")
    make_secret(gcp_sm_client, "theirs", parent="projects/other")
    gcp_sm_client.create_secret(
        request={"parent": f"{PROJECT}/locations/us-east1", "secret_id": "regional", "secret": {}}
    )
    assert [s.name for s in gcp_sm_client.list_secrets(parent=PROJECT)] == [f"{PROJECT}/secrets/mine"]
    assert [s.name for s in gcp_sm_client.list_secrets(parent=f"{PROJECT}/locations/us-east1")] == [
        f"{PROJECT}/locations/us-east1/secrets/regional"
    ]


def test_list_invalid_page_token_and_size(gcp_sm_client: Any) -> None:
    with pytest.raises(gexc.BadRequest) as excinfo:
        list(gcp_sm_client.list_secrets(request={"parent": PROJECT, "page_token": "bogus"}))
    assert rest_status(excinfo) == "INVALID_ARGUMENT"
    with pytest.raises(gexc.BadRequest):
        list(gcp_sm_client.list_secrets(request={"parent": PROJECT, "page_size": -1}))


def test_list_filter(gcp_sm_client: Any) -> None:
    """The filters the provider sends: ``labels.K=v AND ...``, ``name:"id" OR ...``."""
    make_secret(gcp_sm_client, "app-db", labels={"env": "prod", "team": "core"})
    make_secret(gcp_sm_client, "app-cache", labels={"env": "dev"})
    make_secret(gcp_sm_client, "other", labels={"team": "edge"})

    def ids(filter_text: str) -> set[str]:
        pager = gcp_sm_client.list_secrets(request={"parent": PROJECT, "filter": filter_text})
        return {s.name.rsplit("/", 1)[1] for s in pager}

    assert ids("labels.env=prod") == {"app-db"}
    assert ids('labels.env="prod" AND labels.team="core"') == {"app-db"}
    assert ids("labels.env=dev labels.team=core") == set()  # juxtaposition is AND
    assert ids("name:app") == {"app-db", "app-cache"}
    assert ids("name=other") == {"other"}
    assert ids('name:"app-db" OR name:"other"') == {"app-db", "other"}
    assert ids("name:app AND labels.env=dev") == {"app-cache"}
    assert ids("labels.env=dev OR labels.team=edge") == {"app-cache", "other"}
    assert ids("name:test-project") == {"app-db", "app-cache", "other"}  # the full name

    # totalSize is 0 whenever a filter is set, as the API documents.
    page = next(iter(gcp_sm_client.list_secrets(request={"parent": PROJECT, "filter": "name:app"}).pages))
    assert page.total_size == 0


@pytest.mark.parametrize(
    "filter_text",
    [
        'name ~ "app.*"',
        "colour=red",
        "justaword",
        "labels.env=",
        "(name:a)",
        "NOT labels.env=prod",
        "labels.env:*",
        "create_time>2000-01-01T00:00:00Z",
        "name:a OR",
    ],
)
def test_list_filters_the_emulator_does_not_model_are_refused(gcp_sm_client: Any, filter_text: str) -> None:
    """A filter the emulator would misread fails loudly instead of listing the wrong secrets."""
    with pytest.raises(gexc.BadRequest) as excinfo:
        list(gcp_sm_client.list_secrets(request={"parent": PROJECT, "filter": filter_text}))
    assert rest_status(excinfo) == "INVALID_ARGUMENT"


# --------------------------------------------------------------------------- update and delete


def test_update_labels_with_update_mask(gcp_sm_client: Any) -> None:
    created = make_secret(gcp_sm_client, "s", labels={"env": "dev"}, annotations={"note": "keep"})
    updated = gcp_sm_client.update_secret(
        request={
            "secret": {"name": created.name, "labels": {"env": "prod", "owner": "ops"}, "annotations": {}},
            "update_mask": field_mask_pb2.FieldMask(paths=["labels"]),
        }
    )
    assert dict(updated.labels) == {"env": "prod", "owner": "ops"}
    assert dict(updated.annotations) == {"note": "keep"}  # not in the mask: untouched
    assert updated.etag != created.etag
    assert gcp_sm_client.get_secret(name=created.name) == updated

    both = gcp_sm_client.update_secret(
        request={
            "secret": {"name": created.name, "annotations": {"sync.source-id": "x"}},
            "update_mask": {"paths": ["labels", "annotations"]},
        }
    )
    assert dict(both.labels) == {}  # in the mask but absent from the body: cleared
    assert dict(both.annotations) == {"sync.source-id": "x"}


@pytest.mark.parametrize(
    ("paths", "secret_fields"),
    [
        ([], {"labels": {"a": "b"}}),
        (["replication"], {"replication": {"automatic": {}}}),
        (["create_time"], {}),
        (["labels"], {"labels": {"BAD": "x"}}),
    ],
    ids=["no-mask", "immutable-replication", "output-only", "invalid-label"],
)
def test_update_rejects_bad_requests(
    gcp_sm_client: Any, paths: list[str], secret_fields: dict[str, Any]
) -> None:
    created = make_secret(gcp_sm_client, "s", labels={"keep": "me"})
    with pytest.raises(gexc.BadRequest) as excinfo:
        gcp_sm_client.update_secret(
            request={"secret": {"name": created.name, **secret_fields}, "update_mask": {"paths": paths}}
        )
    assert rest_status(excinfo) == "INVALID_ARGUMENT"
    assert gcp_sm_client.get_secret(name=created.name) == created


def test_update_with_etag(gcp_sm_client: Any) -> None:
    created = make_secret(gcp_sm_client, "s")
    with pytest.raises(gexc.BadRequest) as excinfo:
        gcp_sm_client.update_secret(
            request={
                "secret": {"name": created.name, "labels": {"a": "b"}, "etag": '"stale"'},
                "update_mask": {"paths": ["labels"]},
            }
        )
    assert rest_status(excinfo) == "FAILED_PRECONDITION"
    updated = gcp_sm_client.update_secret(
        request={
            "secret": {"name": created.name, "labels": {"a": "b"}, "etag": created.etag},
            "update_mask": {"paths": ["labels"]},
        }
    )
    assert dict(updated.labels) == {"a": "b"}


def test_delete_with_good_and_bad_etag(gcp_sm_client: Any) -> None:
    created = make_secret(gcp_sm_client, "s")
    add_version(gcp_sm_client, created.name, b"payload")

    with pytest.raises(gexc.BadRequest) as excinfo:
        gcp_sm_client.delete_secret(request={"name": created.name, "etag": '"0"'})
    assert rest_status(excinfo) == "FAILED_PRECONDITION"
    gcp_sm_client.get_secret(name=created.name)  # still there

    gcp_sm_client.delete_secret(request={"name": created.name, "etag": created.etag})
    with pytest.raises(gexc.NotFound):
        gcp_sm_client.get_secret(name=created.name)

    # Deleting without an etag is unconditional; a re-created secret starts again at version 1.
    again = make_secret(gcp_sm_client, "s")
    assert add_version(gcp_sm_client, again.name, b"x").name.endswith("/versions/1")
    gcp_sm_client.delete_secret(name=again.name)
    assert list(gcp_sm_client.list_secrets(parent=PROJECT)) == []


def test_adding_a_version_does_not_change_the_secret_etag(gcp_sm_client: Any) -> None:
    created = make_secret(gcp_sm_client, "s")
    add_version(gcp_sm_client, created.name, b"x")
    assert gcp_sm_client.get_secret(name=created.name).etag == created.etag


# --------------------------------------------------------------------------- versions


def test_add_version_and_access_by_number_and_latest(gcp_sm_client: Any) -> None:
    secret = make_secret(gcp_sm_client, "s")
    v1 = add_version(gcp_sm_client, secret.name, b"one")
    v2 = add_version(gcp_sm_client, secret.name, b"\x00binary\xff", checksum=False)
    assert v1.name == f"{secret.name}/versions/1"
    assert v2.name == f"{secret.name}/versions/2"
    assert v1.state == State.ENABLED
    assert v1.client_specified_payload_checksum is True
    assert v2.client_specified_payload_checksum is False
    assert ETAG.fullmatch(v1.etag)

    latest = gcp_sm_client.access_secret_version(name=f"{secret.name}/versions/latest")
    assert latest.name == v2.name  # the resolved number, not "latest"
    assert latest.payload.data == b"\x00binary\xff"
    assert latest.payload.data_crc32c == google_crc32c.value(b"\x00binary\xff")

    first = gcp_sm_client.access_secret_version(name=v1.name)
    assert first.payload.data == b"one"
    assert first.payload.data_crc32c == google_crc32c.value(b"one")

    assert gcp_sm_client.get_secret_version(name=f"{secret.name}/versions/latest").name == v2.name


def test_crc32c_mismatch_rejected(gcp_sm_client: Any) -> None:
    secret = make_secret(gcp_sm_client, "s")
    with pytest.raises(gexc.BadRequest) as excinfo:
        gcp_sm_client.add_secret_version(
            request={"parent": secret.name, "payload": {"data": b"data", "data_crc32c": 12345}}
        )
    assert rest_status(excinfo) == "INVALID_ARGUMENT"
    assert list(gcp_sm_client.list_secret_versions(parent=secret.name)) == []


def test_payload_size_limits(gcp_sm_client: Any) -> None:
    secret = make_secret(gcp_sm_client, "s")
    for data in (b"", b"x" * (MAX_PAYLOAD_BYTES + 1)):
        with pytest.raises(gexc.BadRequest) as excinfo:
            add_version(gcp_sm_client, secret.name, data)
        assert rest_status(excinfo) == "INVALID_ARGUMENT"
    biggest = add_version(gcp_sm_client, secret.name, b"x" * MAX_PAYLOAD_BYTES)
    assert gcp_sm_client.access_secret_version(name=biggest.name).payload.data == b"x" * MAX_PAYLOAD_BYTES


def test_disable_blocks_access_and_enable_restores_it(gcp_sm_client: Any) -> None:
    secret = make_secret(gcp_sm_client, "s")
    version = add_version(gcp_sm_client, secret.name, b"v1")
    disabled = gcp_sm_client.disable_secret_version(name=version.name)
    assert disabled.state == State.DISABLED
    assert disabled.etag != version.etag

    with pytest.raises(gexc.BadRequest) as excinfo:
        gcp_sm_client.access_secret_version(name=version.name)
    assert rest_status(excinfo) == "FAILED_PRECONDITION"
    assert "DISABLED" in str(excinfo.value)

    enabled = gcp_sm_client.enable_secret_version(name=version.name)
    assert enabled.state == State.ENABLED
    assert gcp_sm_client.access_secret_version(name=version.name).payload.data == b"v1"


def test_latest_is_the_newest_version_whatever_its_state(gcp_sm_client: Any) -> None:
    """Like Google: ``latest`` never skips a DISABLED or DESTROYED newest version; access then fails."""
    secret = make_secret(gcp_sm_client, "s")
    v1 = add_version(gcp_sm_client, secret.name, b"old")
    v2 = add_version(gcp_sm_client, secret.name, b"new")
    gcp_sm_client.disable_secret_version(name=v2.name)

    assert gcp_sm_client.get_secret_version(name=f"{secret.name}/versions/latest").name == v2.name
    with pytest.raises(gexc.BadRequest) as excinfo:
        gcp_sm_client.access_secret_version(name=f"{secret.name}/versions/latest")
    assert rest_status(excinfo) == "FAILED_PRECONDITION"
    assert v2.name in str(excinfo.value)

    # The portable way to read "newest enabled": list with a state filter (newest first).
    enabled = list(
        gcp_sm_client.list_secret_versions(request={"parent": secret.name, "filter": "state:ENABLED"})
    )
    assert [v.name for v in enabled] == [v1.name]
    assert gcp_sm_client.access_secret_version(name=enabled[0].name).payload.data == b"old"


def test_latest_without_versions_is_not_found(gcp_sm_client: Any) -> None:
    secret = make_secret(gcp_sm_client, "s")
    with pytest.raises(gexc.NotFound) as excinfo:
        gcp_sm_client.access_secret_version(name=f"{secret.name}/versions/latest")
    assert "not found or has no versions" in str(excinfo.value)


def test_destroy_is_final(gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator) -> None:
    secret = make_secret(gcp_sm_client, "s")
    version = add_version(gcp_sm_client, secret.name, b"gone soon")
    destroyed = gcp_sm_client.destroy_secret_version(name=version.name)
    assert destroyed.state == State.DESTROYED
    assert destroyed.destroy_time.timestamp() == pytest.approx(time.time(), abs=60)

    with pytest.raises(gexc.BadRequest) as excinfo:
        gcp_sm_client.access_secret_version(name=version.name)
    assert rest_status(excinfo) == "FAILED_PRECONDITION"
    for call in (gcp_sm_client.enable_secret_version, gcp_sm_client.disable_secret_version):
        with pytest.raises(gexc.BadRequest) as excinfo:
            call(name=version.name)
        assert rest_status(excinfo) == "FAILED_PRECONDITION"

    wire = raw(gcp_sm_emulator, "GET", f"/v1/{version.name}").json()
    assert wire["state"] == "DESTROYED"
    assert RFC3339.fullmatch(wire["destroyTime"])


def test_version_state_changes_honour_etags(gcp_sm_client: Any) -> None:
    secret = make_secret(gcp_sm_client, "s")
    version = add_version(gcp_sm_client, secret.name, b"x")
    with pytest.raises(gexc.BadRequest) as excinfo:
        gcp_sm_client.disable_secret_version(request={"name": version.name, "etag": '"stale"'})
    assert rest_status(excinfo) == "FAILED_PRECONDITION"
    # A no-op enable still changes the etag, so the old etag is now stale too (as Google documents).
    enabled = gcp_sm_client.enable_secret_version(request={"name": version.name, "etag": version.etag})
    assert enabled.etag != version.etag
    with pytest.raises(gexc.BadRequest):
        gcp_sm_client.destroy_secret_version(request={"name": version.name, "etag": version.etag})
    gcp_sm_client.destroy_secret_version(request={"name": version.name, "etag": enabled.etag})


def test_list_versions_filter_and_pagination(gcp_sm_client: Any) -> None:
    secret = make_secret(gcp_sm_client, "s")
    versions = [add_version(gcp_sm_client, secret.name, f"v{i}".encode()) for i in range(1, 6)]
    gcp_sm_client.disable_secret_version(name=versions[1].name)
    gcp_sm_client.destroy_secret_version(name=versions[3].name)

    pages = list(gcp_sm_client.list_secret_versions(request={"parent": secret.name, "page_size": 2}).pages)
    assert [[v.name.rsplit("/", 1)[1] for v in p.versions] for p in pages] == [["5", "4"], ["3", "2"], ["1"]]
    assert pages[0].total_size == 5

    def numbers(filter_text: str) -> list[str]:
        pager = gcp_sm_client.list_secret_versions(request={"parent": secret.name, "filter": filter_text})
        return [v.name.rsplit("/", 1)[1] for v in pager]

    assert numbers("state:ENABLED") == ["5", "3", "1"]
    assert numbers("state=DISABLED") == ["2"]
    assert numbers("state:DESTROYED") == ["4"]
    assert numbers("state:ENABLED OR state:DISABLED") == ["5", "3", "2", "1"]


# --------------------------------------------------------------------------- wire format


def test_wire_format_and_enum_encoding(gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator) -> None:
    secret = make_secret(gcp_sm_client, "s", labels={"env": "prod"})
    add_version(gcp_sm_client, secret.name, b"abc")

    as_int = raw(
        gcp_sm_emulator, "GET", f"/v1/{secret.name}/versions/1", params={"$alt": "json;enum-encoding=int"}
    )
    assert as_int.status_code == 200
    assert as_int.headers["Content-Type"].startswith("application/json")
    assert int(as_int.headers["Content-Length"]) == len(as_int.content)
    body = as_int.json()
    assert body["state"] == ENABLED
    assert body["name"] == f"{secret.name}/versions/1"
    assert RFC3339.fullmatch(body["createTime"])
    assert ETAG.fullmatch(body["etag"])
    assert body["replicationStatus"] == {"automatic": {}}
    assert raw(gcp_sm_emulator, "GET", f"/v1/{secret.name}/versions/1").json()["state"] == "ENABLED"

    secret_json = raw(gcp_sm_emulator, "GET", f"/v1/{secret.name}").json()
    assert set(secret_json) == {"name", "replication", "createTime", "labels", "etag"}
    assert secret_json["replication"] == {"automatic": {}}

    access = raw(gcp_sm_emulator, "GET", f"/v1/{secret.name}/versions/latest:access").json()
    assert base64.b64decode(access["payload"]["data"]) == b"abc"
    assert access["payload"]["dataCrc32c"] == str(google_crc32c.value(b"abc"))  # int64 travels as a string

    missing = raw(gcp_sm_emulator, "GET", f"/v1/{PROJECT}/secrets/nope")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "code": 404,
            "message": f"Secret [{PROJECT}/secrets/nope] not found.",
            "status": "NOT_FOUND",
        }
    }


def test_curl_style_requests(gcp_sm_emulator: SecretManagerEmulator) -> None:
    created = raw(
        gcp_sm_emulator,
        "POST",
        f"/v1/{PROJECT}/secrets",
        params={"secretId": "by-hand"},
        json={"replication": {"automatic": {}}},
    )
    assert created.status_code == 200, created.text
    added = raw(
        gcp_sm_emulator,
        "POST",
        f"/v1/{PROJECT}/secrets/by-hand:addVersion",
        json={"payload": {"data": base64.b64encode(b"hi").decode()}},
    )
    assert added.json()["state"] == "ENABLED"
    assert "clientSpecifiedPayloadChecksum" not in added.json()
    bad_json = raw(gcp_sm_emulator, "POST", f"/v1/{PROJECT}/secrets/by-hand:addVersion", data=b"{nope")
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["status"] == "INVALID_ARGUMENT"
    unknown = raw(gcp_sm_emulator, "GET", "/v2/whatever")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["status"] == "NOT_FOUND"
    rotate = raw(gcp_sm_emulator, "POST", f"/v1/{PROJECT}/secrets/by-hand:rotateSecret", json={})
    assert rotate.status_code == 404  # not modelled: no route, rather than a stub


def test_keep_alive_connection_is_reused(gcp_sm_emulator: SecretManagerEmulator) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gcp_sm_emulator.port, timeout=10)
    try:
        connection.request("GET", "/emulator/healthz")
        first = connection.getresponse()
        assert first.status == 200
        assert json.loads(first.read()) == {"status": "ok"}
        sock = connection.sock
        for _ in range(5):
            connection.request("GET", f"/v1/{PROJECT}/secrets")
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Length") == str(len(response.read()))
        assert connection.sock is sock  # the same TCP connection served every request
    finally:
        connection.close()


# --------------------------------------------------------------------------- regional, projects, IAM


def test_regional_secrets(gcp_sm_client: Any) -> None:
    parent = f"{PROJECT}/locations/europe-west4"
    created = gcp_sm_client.create_secret(request={"parent": parent, "secret_id": "eu", "secret": {}})
    assert created.name == f"{parent}/secrets/eu"
    version = add_version(gcp_sm_client, created.name, b"eu-data")
    assert version.name == f"{parent}/secrets/eu/versions/1"
    assert (
        gcp_sm_client.access_secret_version(name=f"{created.name}/versions/latest").payload.data == b"eu-data"
    )
    with pytest.raises(gexc.NotFound):
        gcp_sm_client.get_secret(name=f"{PROJECT}/secrets/eu")  # global and regional are separate
    with pytest.raises(gexc.BadRequest):
        make_secret(gcp_sm_client, "eu2", parent=parent)  # regional secrets take no replication policy


def test_project_numbers_in_names() -> None:
    with SecretManagerEmulator(project_numbers={"my-project": "123456789012"}) as emulator:
        client = emulator.client()
        created = make_secret(client, "s", parent="projects/my-project")
        assert created.name == "projects/123456789012/secrets/s"
        assert client.get_secret(name="projects/my-project/secrets/s") == created
        assert client.get_secret(name="projects/123456789012/secrets/s") == created


# --------------------------------------------------------------------------- gRPC transport


def test_grpc_transport_raises_specific_exceptions(gcp_sm_grpc_client: Any) -> None:
    client = gcp_sm_grpc_client
    secret = make_secret(client, "s", labels={"env": "prod"})
    version = add_version(client, secret.name, b"over grpc")
    assert client.access_secret_version(name=f"{secret.name}/versions/latest").payload.data == b"over grpc"
    assert [
        s.name for s in client.list_secrets(request={"parent": PROJECT, "filter": "labels.env=prod"})
    ] == [secret.name]

    with pytest.raises(gexc.AlreadyExists):
        make_secret(client, "s")
    with pytest.raises(gexc.InvalidArgument):
        make_secret(client, "bad id")
    with pytest.raises(gexc.NotFound):
        client.get_secret(name=f"{PROJECT}/secrets/missing")
    with pytest.raises(gexc.InvalidArgument):
        client.add_secret_version(
            request={"parent": secret.name, "payload": {"data": b"x", "data_crc32c": 1}}
        )
    client.disable_secret_version(name=version.name)
    with pytest.raises(gexc.FailedPrecondition):
        client.access_secret_version(name=version.name)
    with pytest.raises(gexc.FailedPrecondition):
        client.delete_secret(request={"name": secret.name, "etag": '"stale"'})


# --------------------------------------------------------------------------- lifecycle


def test_reset_over_http_and_in_process(gcp_sm_client: Any, gcp_sm_emulator: SecretManagerEmulator) -> None:
    make_secret(gcp_sm_client, "a")
    assert raw(gcp_sm_emulator, "POST", "/emulator/reset").status_code == 200
    assert list(gcp_sm_client.list_secrets(parent=PROJECT)) == []
    make_secret(gcp_sm_client, "b")
    gcp_sm_emulator.reset()
    assert list(gcp_sm_client.list_secrets(parent=PROJECT)) == []
    assert raw(gcp_sm_emulator, "GET", "/emulator/reset").status_code == 404


def test_concurrent_writers_get_distinct_versions(gcp_sm_client: Any) -> None:
    secret = make_secret(gcp_sm_client, "busy")
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for index in range(5):
                add_version(gcp_sm_client, secret.name, f"{worker}-{index}".encode())
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    numbers = sorted(
        int(v.name.rsplit("/", 1)[1]) for v in gcp_sm_client.list_secret_versions(parent=secret.name)
    )
    assert numbers == list(range(1, 41))


def test_payloads_are_never_logged(capfd: pytest.CaptureFixture[str]) -> None:
    with SecretManagerEmulator(log_requests=True) as emulator:
        client = emulator.client()
        secret = make_secret(client, "logged")
        add_version(client, secret.name, b"TOP-SECRET-VALUE")
        client.access_secret_version(name=f"{secret.name}/versions/1")
    captured = capfd.readouterr()
    assert "addVersion" in captured.err  # request lines are logged when asked...
    combined = captured.out + captured.err
    assert "TOP-SECRET-VALUE" not in combined  # ...payloads never are
    assert base64.b64encode(b"TOP-SECRET-VALUE").decode() not in combined


def test_stop_closes_keep_alive_connections() -> None:
    emulator = SecretManagerEmulator()
    url = emulator.start()
    session = requests.Session()
    assert session.get(url + "/emulator/healthz", timeout=5).ok
    emulator.stop()
    with pytest.raises(requests.ConnectionError):
        session.get(url + "/emulator/healthz", timeout=5)


def test_backend_is_usable_without_http() -> None:
    backend = SecretManagerBackend()
    backend.create_secret("p", None, "s", {"replication": {"automatic": {}}})
    backend.add_version("p", None, "s", {"payload": {"data": base64.b64encode(b"x").decode()}})
    assert backend.access_version("p", None, "s", "latest")["name"] == "projects/p/secrets/s/versions/1"


def test_module_runs_as_a_subprocess() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_secret_sync.testing.gcp",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO_ROOT,
    )
    try:
        first_line: list[str] = []
        reader = threading.Thread(target=lambda: first_line.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=30)
        assert first_line, "the emulator printed nothing within 30s"
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+))\n", first_line[0])
        assert match, first_line[0]
        assert int(match.group(2)) > 0

        client = secretmanager.SecretManagerServiceClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options={"api_endpoint": match.group(1)},
        )
        secret = make_secret(client, "from-subprocess")
        add_version(client, secret.name, b"hello")
        assert client.access_secret_version(name=f"{secret.name}/versions/latest").payload.data == b"hello"
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - diagnostic path
            process.kill()
            process.wait()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
