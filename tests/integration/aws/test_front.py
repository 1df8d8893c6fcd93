"""The AWS test server refuses what AWS refuses (issue 24): moto alone accepts every one of these requests.

Each test sends a request that AWS's documented limits forbid, with a plain boto3 client, and checks the
error code and that nothing was written. The rules and their sources live in
:mod:`airflow_secret_sync.testing.aws_front`.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.fixtures.moto import MotoServer, boto3_client

pytestmark = pytest.mark.aws


def tags(count: int, **extra: str) -> list[dict[str, str]]:
    return [{"Key": f"k{index}", "Value": "v"} for index in range(count)] + [
        {"Key": key, "Value": value} for key, value in extra.items()
    ]


def refused(call: Any, code: str, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as excinfo:
        call(**kwargs)
    error = excinfo.value.response["Error"]
    assert error["Code"] == code, error
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return str(error["Message"])


# --------------------------------------------------------------------------- Secrets Manager


def test_a_secret_value_over_65536_bytes_is_refused(sm: Any) -> None:
    message = refused(sm.create_secret, "ValidationException", Name="big", SecretString="é" * 32769)
    assert "65536" in message and "é" not in message  # bytes, not characters; the value is not echoed
    assert sm.list_secrets()["SecretList"] == []
    sm.create_secret(Name="fits", SecretString="x" * 65536)
    refused(sm.put_secret_value, "ValidationException", SecretId="fits", SecretBinary=b"\0" * 65537)
    refused(sm.update_secret, "ValidationException", SecretId="fits", SecretString="y" * 65537)
    assert len(sm.list_secret_version_ids(SecretId="fits")["Versions"]) == 1


def test_more_than_50_tags_on_a_secret_are_refused(sm: Any) -> None:
    refused(sm.create_secret, "ValidationException", Name="s", SecretString="v", Tags=tags(51))
    sm.create_secret(Name="s", SecretString="v", Tags=tags(49))
    refused(
        sm.tag_resource,
        "ValidationException",
        SecretId="s",
        Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}],
    )
    sm.tag_resource(SecretId="s", Tags=[{"Key": "k0", "Value": "replaced"}, {"Key": "a", "Value": "1"}])
    assert len(sm.describe_secret(SecretId="s")["Tags"]) == 50


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("k" * 129, "v"),
        ("key", "v" * 257),
        ("aws:owner", "me"),
        ("AWS:owner", "me"),
        ("key", "a,b"),
        ("ke#y", "v"),
    ],
    ids=["long-key", "long-value", "aws-prefix", "aws-prefix-any-case", "comma", "hash"],
)
def test_tags_breaking_the_tag_rules_are_refused(sm: Any, ssm: Any, key: str, value: str) -> None:
    refused(
        sm.create_secret,
        "ValidationException",
        Name="s",
        SecretString="v",
        Tags=[{"Key": key, "Value": value}],
    )
    assert sm.list_secrets()["SecretList"] == []
    refused(
        ssm.put_parameter,
        "ValidationException",
        Name="/p",
        Value="v",
        Type="String",
        Tags=[{"Key": key, "Value": value}],
    )
    assert ssm.describe_parameters()["Parameters"] == []


def test_tags_within_the_rules_are_accepted(sm: Any) -> None:
    sm.create_secret(
        Name="s",
        SecretString="v",
        Tags=[
            {"Key": "k" * 128, "Value": "v" * 256},
            {"Key": "team name_x.y:z/a=b+c-d@e", "Value": "Ünïcode 42"},
        ],
    )
    assert len(sm.describe_secret(SecretId="s")["Tags"]) == 2


def test_list_secrets_takes_at_most_100_results_per_page(sm: Any) -> None:
    assert "100" in refused(sm.list_secrets, "ValidationException", MaxResults=101)
    assert sm.list_secrets(MaxResults=100)["SecretList"] == []


def test_batch_get_secret_value_takes_at_most_20_ids(sm: Any) -> None:
    for index in range(21):
        sm.create_secret(Name=f"s{index}", SecretString="v")
    ids = [f"s{index}" for index in range(21)]
    assert "20" in refused(sm.batch_get_secret_value, "ValidationException", SecretIdList=ids)
    assert len(sm.batch_get_secret_value(SecretIdList=ids[:20])["SecretValues"]) == 20
    refused(
        sm.batch_get_secret_value,
        "ValidationException",
        Filters=[{"Key": "name", "Values": ["s"]}],
        MaxResults=21,
    )


def test_creating_over_a_name_scheduled_for_deletion_is_an_invalid_request(sm: Any) -> None:
    sm.create_secret(Name="gone", SecretString="v")
    sm.delete_secret(SecretId="gone", RecoveryWindowInDays=7)
    message = refused(sm.create_secret, "InvalidRequestException", Name="gone", SecretString="new")
    assert "scheduled for deletion" in message
    sm.restore_secret(SecretId="gone")
    assert sm.get_secret_value(SecretId="gone")["SecretString"] == "v"


# --------------------------------------------------------------------------- Parameter Store


def test_a_standard_parameter_holds_at_most_4096_characters(ssm: Any) -> None:
    message = refused(
        ssm.put_parameter, "ValidationException", Name="/std", Value="x" * 4097, Type="SecureString"
    )
    assert "4096" in message and "advanced-parameter tier" in message
    assert ssm.describe_parameters()["Parameters"] == []
    ssm.put_parameter(Name="/std", Value="x" * 4096, Type="SecureString")
    refused(
        ssm.put_parameter,
        "ValidationException",
        Name="/std",
        Value="x" * 4097,
        Type="SecureString",
        Overwrite=True,
    )
    assert ssm.get_parameter(Name="/std")["Parameter"]["Version"] == 1


def test_an_advanced_parameter_holds_at_most_8192_characters(ssm: Any) -> None:
    ssm.put_parameter(Name="/adv", Value="x" * 8192, Type="String", Tier="Advanced")
    refused(
        ssm.put_parameter,
        "ValidationException",
        Name="/big",
        Value="x" * 8193,
        Type="String",
        Tier="Advanced",
    )
    ssm.put_parameter(Name="/auto", Value="x" * 5000, Type="String", Tier="Intelligent-Tiering")
    assert [p["Name"] for p in ssm.describe_parameters()["Parameters"]] == ["/adv", "/auto"]


def test_an_advanced_parameter_is_not_downgraded_to_standard(ssm: Any) -> None:
    ssm.put_parameter(Name="/adv", Value="one", Type="String", Tier="Advanced")
    message = refused(
        ssm.put_parameter,
        "ValidationException",
        Name="/adv",
        Value="two",
        Type="String",
        Tier="Standard",
        Overwrite=True,
    )
    assert "downgrade" in message
    assert ssm.get_parameter(Name="/adv")["Parameter"]["Value"] == "one"
    ssm.put_parameter(Name="/adv", Value="two", Type="String", Overwrite=True)  # no tier: it stays Advanced


def test_more_than_50_tags_on_a_parameter_are_refused(ssm: Any) -> None:
    refused(ssm.put_parameter, "TooManyTagsError", Name="/p", Value="v", Type="String", Tags=tags(51))
    ssm.put_parameter(Name="/p", Value="v", Type="String", Tags=tags(50))
    refused(
        ssm.add_tags_to_resource,
        "TooManyTagsError",
        ResourceType="Parameter",
        ResourceId="/p",
        Tags=[{"Key": "one-more", "Value": "v"}],
    )
    listed = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/p")["TagList"]
    assert len(listed) == 50


def test_describe_parameters_takes_at_most_50_results_per_page(ssm: Any) -> None:
    assert "50" in refused(ssm.describe_parameters, "ValidationException", MaxResults=51)
    assert ssm.describe_parameters(MaxResults=50)["Parameters"] == []


# --------------------------------------------------------------------------- throttling


def test_sustained_throttling_lasts_its_time_and_only_for_the_operations_named(moto: MotoServer) -> None:
    no_retries = Config(retries={"max_attempts": 1, "mode": "standard"})
    sm = boto3_client(moto, "secretsmanager", config=no_retries)
    sm.create_secret(Name="s", SecretString="v")
    moto.throttle(2.0, operations=("PutSecretValue",))
    started = time.monotonic()
    assert (
        refused(sm.put_secret_value, "ThrottlingException", SecretId="s", SecretString="w") == "Rate exceeded"
    )
    assert sm.get_secret_value(SecretId="s")["SecretString"] == "v"  # other operations pass
    while time.monotonic() - started < 1.0:  # refused again and again, not once
        refused(sm.put_secret_value, "ThrottlingException", SecretId="s", SecretString="w")
        time.sleep(0.1)
    time.sleep(max(0.0, 2.2 - (time.monotonic() - started)))
    sm.put_secret_value(SecretId="s", SecretString="w")
    assert sm.get_secret_value(SecretId="s")["SecretString"] == "w"


def test_a_reset_ends_throttling(moto: MotoServer) -> None:
    moto.throttle(60)
    ssm = boto3_client(moto, "ssm", config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    refused(ssm.describe_parameters, "ThrottlingException")
    moto.reset()
    assert ssm.describe_parameters()["Parameters"] == []
