"""The Parameter Store store against moto in server mode."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_secret_sync.engine.store import InvalidName, Marker, StoreError, WriteConflict
from airflow_secret_sync.providers.aws.marker import TAG_PREFIX, marker_from_tags
from tests.fixtures.moto import boto3_client, closed_port_endpoint, moto_connection
from tests.integration.aws.conftest import record_calls

pytestmark = pytest.mark.aws

MARKER = Marker(job="file-to-ssm", source_store="files", source_key="db/password", source_version="2")


def tags_of(ssm: Any, name: str) -> dict[str, str]:
    listed = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return {tag["Key"]: tag["Value"] for tag in listed}


def test_secure_string_by_default_with_kms_key_and_tags(make_ssm: Any, ssm: Any) -> None:
    store = make_ssm(kms_key_id="alias/apps", tags={"team": "platform"}, description="synced")
    store.write("db/password", "s3cret-value", MARKER)

    parameter = ssm.get_parameter(Name="/apps/db/password", WithDecryption=True)["Parameter"]
    assert parameter["Type"] == "SecureString" and parameter["Value"] == "s3cret-value"
    name_filter = {"Key": "Name", "Option": "Equals", "Values": ["/apps/db/password"]}
    described = ssm.describe_parameters(ParameterFilters=[name_filter])["Parameters"][0]
    assert described["KeyId"] == "alias/apps" and described["Description"] == "synced"
    tags = tags_of(ssm, "/apps/db/password")
    assert tags["team"] == "platform" and marker_from_tags(tags) == MARKER


def test_plain_string_parameters_and_tier(make_ssm: Any, ssm: Any) -> None:
    store = make_ssm(parameter_type="String", tier="Advanced")
    store.write("feature", "on", MARKER)
    described = ssm.describe_parameters()["Parameters"][0]
    assert described["Type"] == "String" and described["Tier"] == "Advanced"


def test_hierarchy_listing_recursive_and_one_level(make_ssm: Any, ssm: Any) -> None:
    store = make_ssm()
    for key in ("top", "db/password", "db/user", "db/replica/password", "dbx", "team-a/svc-1/key"):
        store.write(key, "v", MARKER)
    ssm.put_parameter(Name="/other/thing", Value="v", Type="String")
    ssm.put_parameter(Name="flat-outside", Value="v", Type="String")

    assert store.list_keys() == [
        "db/password",
        "db/replica/password",
        "db/user",
        "dbx",
        "team-a/svc-1/key",
        "top",
    ]
    assert store.list_keys(recursive=False) == ["dbx", "top"]
    assert store.list_keys("db/") == ["db/password", "db/replica/password", "db/user"]
    assert store.list_keys("db/", recursive=False) == ["db/password", "db/user"]
    assert store.list_keys("db") == ["db/password", "db/replica/password", "db/user", "dbx"]
    assert store.list_keys("team-a/svc") == ["team-a/svc-1/key"]
    assert store.list_keys("nothing/") == []


def test_listing_pages_past_50_parameters(make_ssm: Any, ssm: Any) -> None:
    for index in range(120):
        ssm.put_parameter(Name=f"/apps/many/{index:03d}", Value="v", Type="String")
    store = make_ssm()
    sent: list[dict[str, Any]] = []
    store.client().meta.events.register(
        "provide-client-params.ssm.DescribeParameters", lambda params, **_: sent.append(dict(params))
    )
    assert store.list_keys("many/") == [f"many/{index:03d}" for index in range(120)]
    # we ask for the largest page AWS gives (50); moto answers 10 at a time: many NextTokens to follow
    assert sent[0]["MaxResults"] == 50 and len(sent) >= 12 and all("NextToken" in call for call in sent[1:])


def test_top_level_names_with_a_root_prefix(make_ssm: Any, ssm: Any) -> None:
    # AWS treats /name and name at the top level as one parameter, and lists it without the slash
    store = make_ssm(path_prefix="/")
    store.write("flat", "v", MARKER)
    store.write("nested/key", "v", MARKER)
    assert store.list_keys() == ["flat", "nested/key"]
    assert store.read("flat").value == "v"
    assert store.read_many(["flat"])["flat"].value == "v"
    assert store.list_marked("file-to-ssm") == {"flat": MARKER, "nested/key": MARKER}


def test_versions_and_check_and_set(make_ssm: Any, ssm: Any) -> None:
    store = make_ssm()
    assert store.write("rotating", "one", MARKER) == "1"
    assert store.write("rotating", "two", MARKER, expected_version="1") == "2"
    assert store.read("rotating", "1").value == "one"
    assert store.read("rotating").version == "2"
    with pytest.raises(WriteConflict, match="changed since it was read"):
        store.write("rotating", "three", MARKER, expected_version="1")
    with pytest.raises(WriteConflict, match="created by someone else"):
        store.write("rotating", "three", MARKER)
    with pytest.raises(StoreError, match="read version 9"):
        store.read("rotating", "9")


def test_a_write_between_check_and_put_is_reported(make_ssm: Any, moto: Any) -> None:
    store = make_ssm()
    store.write("raced", "one", MARKER)
    other = boto3_client(moto, "ssm")

    def sneak_in(**_: Any) -> None:
        other.put_parameter(Name="/apps/raced", Value="theirs", Type="SecureString", Overwrite=True)

    store.client().meta.events.register_first("before-call.ssm.PutParameter", sneak_in)
    with pytest.raises(WriteConflict, match="another writer"):
        store.write("raced", "ours", MARKER, expected_version="1")


def test_tags_set_by_others_stay(make_ssm: Any, ssm: Any) -> None:
    ssm.put_parameter(
        Name="/apps/legacy", Value="theirs", Type="SecureString", Tags=[{"Key": "owner", "Value": "team-a"}]
    )
    store = make_ssm()
    current = store.read("legacy")
    assert current is not None and current.marker is None

    store.write("legacy", "ours", MARKER, expected_version=current.version)
    tags = tags_of(ssm, "/apps/legacy")
    assert tags["owner"] == "team-a" and marker_from_tags(tags) == MARKER

    store.set_marker("legacy", Marker(job="file-to-ssm", source_store="files", source_key="db/password"))
    tags = tags_of(ssm, "/apps/legacy")
    assert tags["owner"] == "team-a" and f"{TAG_PREFIX}source-version" not in tags


def test_ownership_listing_by_tag(make_ssm: Any, ssm: Any) -> None:
    store = make_ssm()
    store.write("mine", "v", MARKER)
    store.write("deep/mine", "v", MARKER)
    store.write("other-job", "v", Marker(job="another", source_store="files", source_key="x"))
    ssm.put_parameter(Name="/apps/unmarked", Value="v", Type="String")
    assert store.list_marked("file-to-ssm") == {"mine": MARKER, "deep/mine": MARKER}
    assert store.list_marked("file-to-ssm", "deep/") == {"deep/mine": MARKER}


def test_batch_reads(make_ssm: Any) -> None:
    store = make_ssm()
    keys = [f"batch/{index:02d}" for index in range(23)]
    for key in keys:
        store.write(key, f"value-{key}", MARKER)
    calls = record_calls(store.client())
    records = store.read_many([*keys, "batch/missing"])
    found = {key: record.value for key, record in records.items() if record}
    assert found == {key: f"value-{key}" for key in keys}
    assert records["batch/missing"] is None
    assert calls.count("GetParameters") == 3 and "GetParameter" not in calls


def test_delete(make_ssm: Any, ssm: Any) -> None:
    store = make_ssm()
    store.write("temp", "v", MARKER)
    store.delete("temp")
    assert store.read("temp") is None and not store.exists("temp") and store.read_marker("temp") is None
    assert ssm.describe_parameters()["Parameters"] == []
    store.delete("temp")


def test_binary_and_empty_values_are_refused_without_a_request(make_ssm: Any) -> None:
    store = make_ssm()
    calls = record_calls(store.client())
    with pytest.raises(StoreError, match="text only"):
        store.write("cert", b"\xff\xfe", MARKER)
    with pytest.raises(StoreError, match="empty value"):
        store.write("empty", "", MARKER)
    assert calls == []
    store.write("utf8", "héllo".encode(), MARKER)
    assert store.read("utf8").value == "héllo"


@pytest.mark.parametrize(
    ("prefix", "key", "problem"),
    [
        ("/apps/", "has space", "letters, digits"),
        ("/apps/", "sem;colon", "letters, digits"),
        ("", "aws-creds", "cannot start with 'aws' or 'ssm'"),
        ("/", "SSM/x", "cannot start with 'aws' or 'ssm'"),
        ("", "db/password", "must start with '/'"),
        ("/apps/", "a//b", "empty levels"),
        ("/apps/", "a/", "empty levels"),
        ("/apps/", "/".join("l" * 15), "15 levels"),
        ("/apps/", "k" * 1000, "characters"),
    ],
)
def test_names_invalid_for_aws_are_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, make_ssm: Any, moto: Any, prefix: str, key: str, problem: str
) -> None:
    conn_id = moto_connection(
        monkeypatch, moto, conn_id="nowhere", endpoint_url=closed_port_endpoint(), max_attempts=1
    )
    store = make_ssm(conn_id=conn_id, path_prefix=prefix)
    assert problem in (store.check_key(key) or "")
    started = time.monotonic()
    for call in (
        lambda: store.read(key),
        lambda: store.write(key, "v", MARKER),
        lambda: store.delete(key),
        lambda: store.exists(key),
        lambda: store.read_marker(key),
        lambda: store.read_many([key]),
    ):
        with pytest.raises(InvalidName, match="parameter name"):
            call()
    assert time.monotonic() - started < 1
