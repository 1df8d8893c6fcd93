"""The GCP store against the emulator, through the real google-cloud-secret-manager client (REST).

The emulator reports names with the project number (``projects/123456789012/...``) for ``sync-project``,
as Google does, so every test here also proves the hook never compares resource names by project id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google.cloud import secretmanager

from airflow_secret_sync.engine.store import InvalidName, Marker, StoreError, WriteConflict
from airflow_secret_sync.providers.gcp.marker import ANNOTATION_VERSIONS, LABEL_JOB, LABEL_MANAGED_BY
from airflow_secret_sync.testing.gcp import RestApp
from tests.fixtures.gcp import GCP_PROJECT, GCP_PROJECT_NUMBER

pytestmark = pytest.mark.gcp

OURS = Marker(job="job.a", source_store="src", source_key="db/password", source_version="3")
THEIRS = Marker(job="job-b", source_store="other", source_key="x")
PARENT = f"projects/{GCP_PROJECT}"
State = secretmanager.SecretVersion.State
ENABLED, DISABLED, DESTROYED = State.ENABLED, State.DISABLED, State.DESTROYED


@pytest.fixture
def client(gcp_hook_emulator: Any) -> Any:
    """The official client, to check what the hook did (and to play the other writer)."""
    return gcp_hook_emulator.client()


def states(client: Any, key: str) -> dict[int, Any]:
    versions = client.list_secret_versions(request={"parent": f"{PARENT}/secrets/{key}"})
    return {int(version.name.rsplit("/", 1)[-1]): version.state for version in versions}


def add_foreign_version(client: Any, key: str, data: bytes) -> str:
    version = client.add_secret_version(
        request={"parent": f"{PARENT}/secrets/{key}", "payload": {"data": data}}
    )
    return str(version.name.rsplit("/", 1)[-1])


# --------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize("key", ["team/db", "db.password", "", "with space", "x" * 256, "ünïcode"])
def test_invalid_names_are_refused_before_any_call(
    gcp_store: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    requests: list[str] = []
    dispatch = RestApp.dispatch

    def counting(app: RestApp, method: str, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        requests.append(f"{method} {target}")
        return dispatch(app, method, target, body)

    monkeypatch.setattr(RestApp, "dispatch", counting)
    store = gcp_store()
    assert store.check_key(key) is not None
    for call in (
        lambda: store.read(key),
        lambda: store.read_marker(key),
        lambda: store.exists(key),
        lambda: store.write(key, "value-never-sent", OURS),
        lambda: store.set_marker(key, OURS),
        lambda: store.delete(key),
    ):
        with pytest.raises(InvalidName, match="letters, digits"):
            call()
    assert requests == []
    store.list_keys()  # the counter does see requests
    assert len(requests) == 1


def test_names_come_back_with_the_project_number(gcp_store: Callable[..., Any], client: Any) -> None:
    store = gcp_store()
    assert store.write("numbered", "v", OURS) == "1"
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/numbered"})
    assert secret.name == f"projects/{GCP_PROJECT_NUMBER}/secrets/numbered"
    assert store.list_keys() == ["numbered"]
    assert store.list_marked("job.a") == {"numbered": OURS}
    record = store.read("numbered")
    assert record is not None and record.version == "1" and record.marker == OURS
    # addressing the project by its number reaches the same secrets
    assert gcp_store(projectId=GCP_PROJECT_NUMBER).read_marker("numbered") == OURS


# --------------------------------------------------------------------------------------------- markers


def test_marker_lives_in_labels_for_filters_and_annotations_for_exact_fields(
    gcp_store: Callable[..., Any], client: Any
) -> None:
    store = gcp_store(labels={"team": "payments"})
    store.write("marked", "v", OURS)
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/marked"})
    assert dict(secret.labels) == {
        "team": "payments",
        LABEL_MANAGED_BY: "airflow-secret-sync",
        LABEL_JOB: "job-a",  # label syntax has no '.': the annotation keeps the exact name
    }
    assert dict(secret.annotations) == {
        "secret-sync.managed-by": "airflow-secret-sync",
        "secret-sync.job": "job.a",
        "secret-sync.source-store": "src",
        "secret-sync.source-key": "db/password",
        "secret-sync.source-version": "3",
        ANNOTATION_VERSIONS: "1",
    }
    # a job whose label collides ('job-a' too) is told apart by the annotation
    store.write("other-job", "v", Marker(job="job-a", source_store="src", source_key="k"))
    assert set(store.list_marked("job.a")) == {"marked"}
    assert set(store.list_marked("job-a")) == {"other-job"}


def test_user_labels_and_annotations_survive_writes_and_marker_changes(
    gcp_store: Callable[..., Any], client: Any
) -> None:
    store = gcp_store(labels={"env": "prod"})
    store.write("shared", "one", OURS)
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/shared"})
    secret.labels["owner"] = "alice"
    secret.annotations["note.example.com"] = "hands off"
    client.update_secret(request={"secret": secret, "update_mask": {"paths": ["labels", "annotations"]}})

    store.write("shared", "two", OURS, expected_version="1")
    store.set_marker("shared", THEIRS)
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/shared"})
    assert dict(secret.labels) == {
        "owner": "alice",
        "env": "prod",
        LABEL_MANAGED_BY: "airflow-secret-sync",
        LABEL_JOB: "job-b",
    }
    assert secret.annotations["note.example.com"] == "hands off"
    assert "secret-sync.source-version" not in secret.annotations  # THEIRS has none: OURS's is gone
    assert store.read_marker("shared") == THEIRS


def test_a_metadata_change_during_a_write_is_kept_and_the_marker_still_recorded(
    gcp_store: Callable[..., Any], client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = gcp_store()
    store.write("busy", "one", OURS)
    read_metadata = type(store)._get_secret
    calls: list[str] = []

    def read_then_someone_labels_it(self: Any, key: str, name: str) -> Any:
        secret = read_metadata(self, key, name)
        if not calls:  # only between the write's first read and its metadata update
            client.update_secret(
                request={
                    "secret": {"name": name, "labels": {**secret.labels, "owner": "bob"}},
                    "update_mask": {"paths": ["labels"]},
                }
            )
        calls.append(key)
        return secret

    monkeypatch.setattr(type(store), "_get_secret", read_then_someone_labels_it)
    assert store.write("busy", "two", OURS, expected_version="1") == "2"
    assert len(calls) == 2  # the etag mismatch made the hook read the secret again
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/busy"})
    assert secret.labels["owner"] == "bob"
    assert secret.annotations[ANNOTATION_VERSIONS] == "2,1"


def test_set_marker_adds_no_version(gcp_store: Callable[..., Any], client: Any) -> None:
    store = gcp_store()
    store.write("quiet", "v", OURS)
    store.set_marker("quiet", THEIRS)
    assert states(client, "quiet") == {1: ENABLED}


# --------------------------------------------------------------------------------------------- values


def test_empty_value_is_refused_for_that_key_and_nothing_is_created(gcp_store: Callable[..., Any]) -> None:
    store = gcp_store()
    with pytest.raises(StoreError, match="key 'empty': the value is empty"):
        store.write("empty", "", OURS)
    assert not store.exists("empty")
    store.write("fine", "v", OURS)  # the store goes on


def test_binary_and_utf8_payloads(gcp_store: Callable[..., Any], client: Any) -> None:
    store = gcp_store()
    store.write("binary", b"\x00\xff\xfe", OURS)
    store.write("text", "pässwörd", OURS)
    record = store.read("binary")
    assert record is not None and record.value == b"\x00\xff\xfe"
    record = store.read("text")
    assert record is not None and record.value == "pässwörd"
    access = client.access_secret_version(request={"name": f"{PARENT}/secrets/text/versions/latest"})
    assert access.payload.data == "pässwörd".encode()


def test_read_pinned_latest_and_newest_enabled(gcp_store: Callable[..., Any], client: Any) -> None:
    store = gcp_store()
    store.write("multi", "one", OURS)
    store.write("multi", "two", OURS, expected_version="1")
    store.write("multi", "three", OURS, expected_version="2")
    pinned = store.read("multi", "1")
    assert pinned is not None and (pinned.value, pinned.version) == ("one", "1")
    assert store.read("multi", "9") is None

    client.disable_secret_version(request={"name": f"{PARENT}/secrets/multi/versions/3"})
    record = store.read("multi")  # 'latest' is disabled: the newest enabled version is read
    assert record is not None and (record.value, record.version) == ("two", "2")
    with pytest.raises(StoreError, match="DISABLED"):
        store.read("multi", "3")

    # a write based on what was read is not a conflict, and becomes the latest
    assert store.write("multi", "four", OURS, expected_version="2") == "4"
    for number in (1, 2, 4):
        client.disable_secret_version(request={"name": f"{PARENT}/secrets/multi/versions/{number}"})
    assert store.read("multi") is None  # nothing enabled: nothing to read
    assert store.exists("multi")  # but the secret is there


def test_a_secret_without_enabled_versions_is_written_only_by_its_own_job(
    gcp_store: Callable[..., Any], client: Any
) -> None:
    client.create_secret(
        request={"parent": PARENT, "secret_id": "foreign", "secret": {"replication": {"automatic": {}}}}
    )
    store = gcp_store()
    assert store.read("foreign") is None
    with pytest.raises(WriteConflict, match="no job of ours"):
        store.write("foreign", "v", OURS)
    assert states(client, "foreign") == {}

    store.write("ours", "v", OURS)
    client.disable_secret_version(request={"name": f"{PARENT}/secrets/ours/versions/1"})
    assert store.read("ours") is None
    assert store.write("ours", "v2", OURS) == "2"


def test_stale_expected_version_is_a_conflict_and_adds_nothing(
    gcp_store: Callable[..., Any], client: Any
) -> None:
    store = gcp_store()
    store.write("cas", "read-by-us", OURS)
    add_foreign_version(client, "cas", b"written-in-between")
    with pytest.raises(WriteConflict, match="newest enabled version 2, expected 1"):
        store.write("cas", "ours", OURS, expected_version="1")
    assert states(client, "cas") == {1: ENABLED, 2: ENABLED}
    client.delete_secret(request={"name": f"{PARENT}/secrets/cas"})
    with pytest.raises(WriteConflict, match="deleted since it was read"):
        store.write("cas", "ours", OURS, expected_version="2")


# --------------------------------------------------------------------------------------------- hygiene


def test_keep_versions_disables_our_versions_beyond_the_newest_n(
    gcp_store: Callable[..., Any], client: Any
) -> None:
    store = gcp_store(keepVersions=2)
    store.write("rotated", "v1", OURS)
    store.write("rotated", "v2", OURS, expected_version="1")
    foreign = add_foreign_version(client, "rotated", b"someone else's")  # version 3: never ours to retire
    for number, value in ((4, "v4"), (5, "v5"), (6, "v6")):
        assert store.write("rotated", value, OURS, expected_version=str(number - 1)) == str(number)
    assert foreign == "3"
    assert states(client, "rotated") == {
        1: DISABLED,
        2: DISABLED,
        3: ENABLED,
        4: DISABLED,
        5: ENABLED,
        6: ENABLED,
    }
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/rotated"})
    assert secret.annotations[ANNOTATION_VERSIONS] == "6,5"
    record = store.read("rotated")
    assert record is not None and (record.value, record.version) == ("v6", "6")


def test_keep_versions_with_destroy(gcp_store: Callable[..., Any], client: Any) -> None:
    store = gcp_store(keepVersions=1, destroyOldVersions=True)
    for number in range(1, 4):
        store.write(
            "destroyed", f"value-{number}", OURS, expected_version=str(number - 1) if number > 1 else None
        )
    assert states(client, "destroyed") == {1: DESTROYED, 2: DESTROYED, 3: ENABLED}


def test_keep_versions_counts_only_enabled_versions_and_tracks_few(
    gcp_store: Callable[..., Any], client: Any
) -> None:
    store = gcp_store(keepVersions=2)
    store.write("k", "a", OURS)
    store.write("k", "b", OURS, expected_version="1")
    client.disable_secret_version(request={"name": f"{PARENT}/secrets/k/versions/2"})  # by a person
    store.write("k", "c", OURS, expected_version="1")
    # 2 was disabled by someone else: 1 and 3 are our two enabled versions, none is retired
    assert states(client, "k") == {1: ENABLED, 2: DISABLED, 3: ENABLED}
    store.write("k", "d", OURS, expected_version="3")
    assert states(client, "k") == {1: DISABLED, 2: DISABLED, 3: ENABLED, 4: ENABLED}
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/k"})
    assert secret.annotations[ANNOTATION_VERSIONS] == "4,3"  # only our enabled versions stay tracked


def test_without_keep_versions_nothing_is_retired(gcp_store: Callable[..., Any], client: Any) -> None:
    store = gcp_store()
    for number in range(1, 5):
        store.write("all", f"value-{number}", OURS, expected_version=str(number - 1) if number > 1 else None)
    assert set(states(client, "all").values()) == {ENABLED}
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/all"})
    assert secret.annotations[ANNOTATION_VERSIONS] == "4,3,2,1"


# --------------------------------------------------------------------------------------------- delete


def test_delete_sends_the_etag_read(
    gcp_store: Callable[..., Any], client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = gcp_store()
    store.write("contested", "v", OURS)
    read_metadata = type(store)._get_secret

    def read_then_someone_changes_it(self: Any, key: str, name: str) -> Any:
        secret = read_metadata(self, key, name)
        client.update_secret(
            request={
                "secret": {"name": name, "labels": {**secret.labels, "owner": "bob"}},
                "update_mask": {"paths": ["labels"]},
            }
        )
        return secret

    monkeypatch.setattr(type(store), "_get_secret", read_then_someone_changes_it)
    with pytest.raises(WriteConflict, match="changed since it was read; not deleted"):
        store.delete("contested")
    monkeypatch.undo()
    assert store.exists("contested")
    store.delete("contested")  # with a fresh etag it goes
    assert not store.exists("contested")
    store.delete("contested")  # and deleting what is gone is no error


def test_delete_refuses_a_secret_without_our_marker(gcp_store: Callable[..., Any], client: Any) -> None:
    client.create_secret(
        request={"parent": PARENT, "secret_id": "theirs", "secret": {"replication": {"automatic": {}}}}
    )
    with pytest.raises(StoreError, match="no ownership marker"):
        gcp_store().delete("theirs")
    assert client.get_secret(request={"name": f"{PARENT}/secrets/theirs"})


# --------------------------------------------------------------------------------------------- listing


def test_listing_follows_page_tokens(gcp_store: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    store = gcp_store()
    monkeypatch.setattr(store, "list_page_size", 2)
    keys = [f"page-{number}" for number in range(7)]
    for key in keys:
        store.write(key, "v", OURS)
    store.write("other", "v", THEIRS)
    assert store.list_keys() == sorted([*keys, "other"])
    assert store.list_keys("page-") == keys
    assert store.list_keys("age-") == []  # a prefix, not a substring
    assert store.list_keys("team/") == []  # no secret id holds '/'
    assert set(store.list_marked("job.a")) == set(keys)
    assert set(store.list_marked("job.a", "page-1")) == {"page-1"}


# --------------------------------------------------------------------------------------------- placement


def test_user_managed_replication(gcp_store: Callable[..., Any], client: Any) -> None:
    gcp_store(replication={"locations": ["europe-west1", "europe-west4"]}).write("replicated", "v", OURS)
    secret = client.get_secret(request={"name": f"{PARENT}/secrets/replicated"})
    assert [replica.location for replica in secret.replication.user_managed.replicas] == [
        "europe-west1",
        "europe-west4",
    ]


def test_regional_secrets(gcp_store: Callable[..., Any], client: Any) -> None:
    store = gcp_store(location="europe-west1")
    assert store.write("regional", "v", OURS) == "1"
    secret = client.get_secret(request={"name": f"{PARENT}/locations/europe-west1/secrets/regional"})
    assert not secret.replication.automatic and not secret.replication.user_managed
    assert store.list_keys() == ["regional"]
    assert gcp_store().list_keys() == []  # global and regional secrets are apart
    record = store.read("regional")
    assert record is not None and record.value == "v"


def test_store_spec_rejects_invalid_labels_and_regional_replication() -> None:
    from pydantic import ValidationError

    from airflow_secret_sync.spec.models import GcpProvider

    with pytest.raises(ValidationError, match="lowercase"):
        GcpProvider.model_validate({"connId": "c", "labels": {"Team": "x"}})
    with pytest.raises(ValidationError, match="reserved"):
        GcpProvider.model_validate({"connId": "c", "labels": {"secret_sync_job": "x"}})
    with pytest.raises(ValidationError, match="no replication"):
        GcpProvider.model_validate(
            {"connId": "c", "location": "us-east1", "replication": {"locations": ["us-east1"]}}
        )
