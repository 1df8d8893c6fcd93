"""The Secrets Manager store against moto in server mode: what the contract suite cannot see."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_secret_sync.engine.store import InvalidName, Marker, StoreError, WriteConflict
from airflow_secret_sync.providers.aws.marker import TAG_PREFIX, marker_from_tags, marker_tags
from tests.fixtures.moto import closed_port_endpoint, moto_connection
from tests.integration.aws.conftest import record_calls

pytestmark = pytest.mark.aws

MARKER = Marker(job="vault-to-aws", source_store="vault", source_key="team-a/db", source_version="4")


def tags_of(sm: Any, name: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in sm.describe_secret(SecretId=name).get("Tags", [])}


def test_binary_secrets_round_trip_as_secret_binary(make_sm: Any, sm: Any) -> None:
    store = make_sm(prefix="bin/")
    payload = bytes(range(256))
    version = store.write("cert.der", payload, MARKER)

    stored = sm.get_secret_value(SecretId="bin/cert.der")
    assert stored["SecretBinary"] == payload and "SecretString" not in stored
    record = store.read("cert.der")
    assert record is not None
    assert record.value == payload and record.version == version and record.marker == MARKER

    store.write("cert.der", "now text", MARKER, expected_version=version)
    assert sm.get_secret_value(SecretId="bin/cert.der")["SecretString"] == "now text"


def test_secret_pending_deletion_is_restored_and_written_again(make_sm: Any, sm: Any) -> None:
    store = make_sm(recovery_window_days=7)
    first = store.write("app/token", "old", MARKER)
    store.delete("app/token")
    assert sm.describe_secret(SecretId="app/token").get("DeletedDate")
    assert store.read("app/token") is None and not store.exists("app/token")
    assert store.list_keys() == []
    store.delete("app/token")  # deleting a secret already scheduled for deletion is not an error

    new = store.write("app/token", "new", MARKER)

    described = sm.describe_secret(SecretId="app/token")
    assert not described.get("DeletedDate")
    assert sm.get_secret_value(SecretId="app/token", VersionStage="AWSCURRENT")["SecretString"] == "new"
    assert set(described["VersionIdsToStages"]) == {first, new}
    assert store.list_keys() == ["app/token"]


def test_a_secret_of_another_job_pending_deletion_is_a_conflict(make_sm: Any, sm: Any) -> None:
    store = make_sm()
    store.write("taken", "theirs", Marker(job="other-job", source_store="vault", source_key="x"))
    store.delete("taken")
    with pytest.raises(WriteConflict, match="scheduled for deletion and owned by job 'other-job'"):
        store.write("taken", "ours", MARKER)
    assert sm.describe_secret(SecretId="taken").get("DeletedDate")


def test_a_placeholder_without_a_value_gets_its_first_value(make_sm: Any, sm: Any) -> None:
    # as Terraform's aws_secretsmanager_secret leaves it: a name, a KMS key and tags, but no version
    sm.create_secret(
        Name="placeholder", Description="made by terraform", Tags=[{"Key": "owner", "Value": "ops"}]
    )
    store = make_sm()
    assert store.read("placeholder") is None
    version = store.write("placeholder", "filled", MARKER)
    assert store.read("placeholder").value == "filled" and store.read("placeholder").version == version
    described = sm.describe_secret(SecretId="placeholder")
    assert described["Description"] == "made by terraform"
    assert tags_of(sm, "placeholder")["owner"] == "ops" and store.read_marker("placeholder") == MARKER


def test_force_delete_without_recovery(make_sm: Any, sm: Any) -> None:
    store = make_sm(recovery_window_days=None)
    store.write("gone", "value", MARKER)
    store.delete("gone")
    with pytest.raises(sm.exceptions.ResourceNotFoundException):
        sm.describe_secret(SecretId="gone")
    store.delete("gone")
    store.write("gone", "back", MARKER)  # a force-deleted name is free at once
    assert store.read("gone").value == "back"


def test_tags_set_by_others_stay(make_sm: Any, sm: Any) -> None:
    sm.create_secret(
        Name="shared/db",
        SecretString="theirs",
        Tags=[{"Key": "owner", "Value": "team-a"}, {"Key": "cost-center", "Value": "42"}],
    )
    store = make_sm(prefix="shared/", tags={"synced": "yes"})
    current = store.read("db")
    assert current is not None and current.marker is None

    store.write("db", "ours", MARKER, expected_version=current.version)
    tags = tags_of(sm, "shared/db")
    assert tags["owner"] == "team-a" and tags["cost-center"] == "42" and tags["synced"] == "yes"
    assert marker_from_tags(tags) == MARKER

    without_version = Marker(job="vault-to-aws", source_store="vault", source_key="team-a/db")
    store.set_marker("db", without_version)
    tags = tags_of(sm, "shared/db")
    assert f"{TAG_PREFIX}source-version" not in tags
    assert tags["owner"] == "team-a" and tags["cost-center"] == "42"
    assert store.read_marker("db") == without_version


def test_marker_values_are_escaped_and_split_to_fit_tag_rules(make_sm: Any, sm: Any) -> None:
    long_keys = ",".join(f"team-ä/{index:03d} key" for index in range(40))
    marker = Marker(job="j", source_store="vault,gcp", source_key=long_keys)
    tags = marker_tags(marker)
    assert all(len(value) <= 256 for value in tags.values())
    assert all(
        set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/=+-@")
        for value in tags.values()
    )
    assert f"{TAG_PREFIX}source-key:2" in tags

    store = make_sm()
    store.write("many", "value", marker)
    assert store.read_marker("many") == marker
    assert store.list_marked("j") == {"many": marker}


def test_names_invalid_for_aws_are_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, make_sm: Any, moto: Any
) -> None:
    conn_id = moto_connection(
        monkeypatch, moto, conn_id="nowhere", endpoint_url=closed_port_endpoint(), max_attempts=1
    )
    store = make_sm(conn_id=conn_id, prefix="apps/")
    too_long = "k" * (512 - len("apps/") + 1)
    for key in ("has space", "semi;colon", "percent%", "ümlaut", too_long):
        assert store.check_key(key)
        started = time.monotonic()
        for call in (
            lambda k: store.read(k),
            lambda k: store.write(k, "v", MARKER),
            lambda k: store.delete(k),
            lambda k: store.exists(k),
            lambda k: store.set_marker(k, MARKER),
            lambda k: store.read_many([k]),
        ):
            with pytest.raises(InvalidName, match="AWS secret names allow"):
                call(key)
        assert time.monotonic() - started < 1
    assert store.check_key("k" * (512 - len("apps/"))) is None
    # the same connection fails on any real request: proof that the refusals above made none
    with pytest.raises(StoreError, match="Could not connect"):
        store.read("fine")


def test_listing_pages_past_100_secrets(make_sm: Any, sm: Any) -> None:
    for index in range(130):
        tags = [{"Key": key, "Value": value} for key, value in marker_tags(MARKER).items()]
        if index % 2 == 0:
            tags = []
        sm.create_secret(Name=f"many/{index:03d}", SecretString="v", Tags=tags)
    sm.create_secret(Name="other/1", SecretString="v")
    store = make_sm(prefix="many/")
    calls = record_calls(store.client())

    keys = store.list_keys()
    assert keys == [f"{index:03d}" for index in range(130)]
    assert calls.count("ListSecrets") == 2
    assert store.list_keys("12") == [f"12{digit}" for digit in range(10)]
    assert sorted(store.list_marked("vault-to-aws")) == [f"{index:03d}" for index in range(1, 130, 2)]


def test_non_recursive_listing(make_sm: Any) -> None:
    store = make_sm(prefix="tree/")
    for key in ("a", "b/c", "b/d/e", "bx"):
        store.write(key, "v", MARKER)
    assert store.list_keys(recursive=False) == ["a", "bx"]
    assert store.list_keys("b/", recursive=False) == ["b/c"]
    assert store.list_keys("b") == ["b/c", "b/d/e", "bx"]


def test_batch_reads(make_sm: Any, sm: Any) -> None:
    store = make_sm(prefix="batch/")
    keys = [f"k{index:02d}" for index in range(25)]
    for key in keys:
        store.write(key, f"value-{key}", MARKER)
    store.write("binary", b"\x00\x01", MARKER)
    store.write("deleted", "x", MARKER)
    store.delete("deleted")
    calls = record_calls(store.client())

    records = store.read_many([*keys, "binary", "missing", "deleted"])

    assert {key: record.value for key, record in records.items() if record} == {
        **{key: f"value-{key}" for key in keys},
        "binary": b"\x00\x01",
    }
    assert records["missing"] is None and records["deleted"] is None
    assert all(record.marker == MARKER for record in records.values() if record)
    assert calls.count("BatchGetSecretValue") == 2 and calls.count("ListSecrets") == 3
    # the batch answers "invalid request" for the secret scheduled for deletion: described to tell why
    assert "GetSecretValue" not in calls and calls.count("DescribeSecret") == 1


def test_batch_reads_describe_a_secret_the_listing_does_not_reach(make_sm: Any, sm: Any) -> None:
    # a name filter matches the beginning of names: "deep" lists all of deep/... too, 250 secrets
    for index in range(250):
        sm.create_secret(Name=f"deep/{index:03d}", SecretString="v")
    store = make_sm()
    store.write("deep", "value", MARKER)
    calls = record_calls(store.client())

    (record,) = store.read_many(["deep"]).values()

    assert record is not None and record.value == "value" and record.marker == MARKER
    # two pages of the listing at most, then the name still missing is described
    assert calls == ["BatchGetSecretValue", "ListSecrets", "ListSecrets", "DescribeSecret"]


def test_denied_batch_reads_leave_every_key_to_single_reads(make_sm: Any) -> None:
    store = make_sm()
    store.write("a", "v", MARKER)
    client = store.client()
    calls = record_calls(client)
    denied = (
        SimpleNamespace(status_code=400),
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
    )
    client.meta.events.register("before-call.secretsmanager.BatchGetSecretValue", lambda **_: denied)

    assert store.read_many(["a"]) == {} and store.read_many(["a"]) == {}
    assert calls.count("BatchGetSecretValue") == 1  # asked once, then no more
    assert store.read("a").value == "v"


def test_stale_expected_version_is_a_conflict(make_sm: Any, sm: Any) -> None:
    store = make_sm()
    first = store.write("cas", "one", MARKER)
    sm.put_secret_value(SecretId="cas", SecretString="someone else")
    with pytest.raises(WriteConflict, match="changed since it was read"):
        store.write("cas", "two", MARKER, expected_version=first)
    with pytest.raises(WriteConflict, match="created by someone else"):
        store.write("cas", "two", MARKER)
    assert sm.get_secret_value(SecretId="cas")["SecretString"] == "someone else"


def test_writes_carry_a_client_request_token_that_makes_retries_idempotent(make_sm: Any, sm: Any) -> None:
    store = make_sm()
    first = store.write("idem", "one", MARKER)
    sent: list[dict[str, Any]] = []
    store.client().meta.events.register(
        "provide-client-params.secretsmanager.PutSecretValue", lambda params, **_: sent.append(dict(params))
    )
    version = store.write("idem", "two", MARKER, expected_version=first)
    assert sent[0]["ClientRequestToken"] == version

    # what botocore does when it retries that call: the same request, the same token
    sm.put_secret_value(SecretId="idem", SecretString="two", ClientRequestToken=version)
    assert set(sm.describe_secret(SecretId="idem")["VersionIdsToStages"]) == {first, version}


def test_kms_key_description_and_store_tags_on_create(make_sm: Any, sm: Any) -> None:
    store = make_sm(
        kms_key_id="alias/secret-sync", description="synced by airflow-secret-sync", tags={"team": "platform"}
    )
    store.write("new", "value", MARKER)
    described = sm.describe_secret(SecretId="new")
    assert described["KmsKeyId"] == "alias/secret-sync"
    assert described["Description"] == "synced by airflow-secret-sync"
    assert tags_of(sm, "new")["team"] == "platform"


def test_empty_values_are_refused_without_a_request(make_sm: Any) -> None:
    store = make_sm()
    calls = record_calls(store.client())
    with pytest.raises(StoreError, match="empty value"):
        store.write("empty", "", MARKER)
    assert calls == []


def test_pinned_versions_by_id_and_stage(make_sm: Any) -> None:
    store = make_sm()
    first = store.write("pinned", "one", MARKER)
    store.write("pinned", "two", MARKER, expected_version=first)
    assert store.read("pinned", first).value == "one"
    assert store.read("pinned", "AWSPREVIOUS").value == "one"
    with pytest.raises(StoreError, match="read version"):
        store.read("pinned", "0" * 36)
