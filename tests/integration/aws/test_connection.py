"""From an Airflow connection to AWS clients: our connection type, the Amazon provider's, their extras."""

from __future__ import annotations

import logging
import time
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from airflow_secret_sync.engine.store import Marker, StoreError
from airflow_secret_sync.providers.aws.conn import AwsConnectionSettings, aws_session
from airflow_secret_sync.providers.aws_parameter_store.hook import AwsParameterStoreHook
from airflow_secret_sync.providers.aws_parameter_store.spec import AwsParameterStoreProvider
from airflow_secret_sync.providers.aws_parameter_store.store import AwsParameterStore
from airflow_secret_sync.providers.aws_secrets_manager.hook import AwsSecretsManagerHook
from airflow_secret_sync.providers.aws_secrets_manager.spec import AwsProvider
from airflow_secret_sync.providers.aws_secrets_manager.store import AwsSecretsManagerStore
from airflow_secret_sync.providers.registry import provider
from tests.fixtures.moto import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    boto3_client,
    closed_port_endpoint,
    moto_connection,
    set_connection,
)

pytestmark = pytest.mark.aws

MARKER = Marker(job="j", source_store="s", source_key="k")


def sm_store(conn_id: str, **settings: Any) -> AwsSecretsManagerStore:
    return AwsSecretsManagerStore(store_name="aws-test", settings=AwsProvider(conn_id=conn_id, **settings))


def test_registry_finds_both_hooks_with_their_connection_type() -> None:
    for kind, expected in (("aws", AwsSecretsManagerHook), ("awsParameterStore", AwsParameterStoreHook)):
        cls = provider(kind).load_hook_class()
        assert cls is expected and cls.provider_kind == kind
        assert cls.conn_type == "secret_sync_aws" and cls.default_conn_name == "secret_sync_aws_default"
    assert AwsSecretsManagerHook.hook_name == "Secret Sync: AWS"


def test_connection_from_json_environment_variable(monkeypatch: pytest.MonkeyPatch, moto: Any) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MY_AWS", (
        f'{{"conn_type": "secret_sync_aws", "login": "{ACCESS_KEY_ID}", "password": "{SECRET_ACCESS_KEY}", '
        f'"extra": {{"region_name": "{REGION}", "endpoint_url": "{moto.endpoint}"}}}}'
    ))
    hook = sm_store("my_aws")
    hook.write("from-json", "value", MARKER)
    stored = boto3_client(moto, "secretsmanager").get_secret_value(SecretId="from-json")
    assert stored["SecretString"] == "value"
    assert hook.client().meta.region_name == REGION and hook.client().meta.endpoint_url == moto.endpoint


def test_amazon_provider_connection_with_its_conventional_extras(monkeypatch: pytest.MonkeyPatch,
                                                                 moto: Any) -> None:
    set_connection(monkeypatch, "aws_default", conn_type="aws", extra={
        "aws_access_key_id": ACCESS_KEY_ID,
        "aws_secret_access_key": SECRET_ACCESS_KEY,
        "region_name": REGION,
        "endpoint_url": closed_port_endpoint(),
        "service_config": {name: {"endpoint_url": moto.endpoint} for name in ("secretsmanager", "ssm",
                                                                              "sts")},
        "config_kwargs": {"retries": {"mode": "adaptive", "max_attempts": 7}, "connect_timeout": 5},
    })
    sm = sm_store("aws_default")
    sm.write("amazon-style", "value", MARKER)
    assert sm.read("amazon-style").value == "value"
    # botocore's Config counts retries in max_attempts: 7 retries are 8 attempts
    assert sm.client().meta.config.retries == {"mode": "adaptive", "total_max_attempts": 8}
    assert sm.client().meta.config.connect_timeout == 5
    ssm = AwsParameterStore(store_name="ssm", settings=AwsParameterStoreProvider(conn_id="aws_default",
                                                                                     path_prefix="/x/"))
    ssm.write("amazon-style", "value", MARKER)
    assert ssm.check_connection()[0]


def test_amazon_provider_connection_as_uri(monkeypatch: pytest.MonkeyPatch, moto: Any) -> None:
    query = urllib.parse.urlencode({"region_name": REGION, "endpoint_url": moto.endpoint, "verify": "false"})
    monkeypatch.setenv("AIRFLOW_CONN_AWS_URI", f"aws://{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}@/?{query}")
    hook = sm_store("aws_uri")
    assert hook.connection_settings().verify is False
    hook.write("from-uri", "value", MARKER)
    assert hook.read("from-uri").value == "value"


def test_retry_mode_and_attempts_go_to_botocore(monkeypatch: pytest.MonkeyPatch, moto: Any) -> None:
    default = sm_store(moto_connection(monkeypatch, moto))
    assert default.client().meta.config.retries == {"mode": "adaptive", "total_max_attempts": 10}
    assert default.client().meta.config.max_pool_connections == 50

    tuned = sm_store(moto_connection(monkeypatch, moto, conn_id="tuned", retry_mode="adaptive",
                                    max_attempts="5"))
    assert tuned.client().meta.config.retries == {"mode": "adaptive", "total_max_attempts": 5}
    assert tuned.client("sts").meta.config.retries == {"mode": "adaptive", "total_max_attempts": 5}

    bad = sm_store(moto_connection(monkeypatch, moto, conn_id="bad", retry_mode="eager"))
    with pytest.raises(StoreError, match="retry_mode must be one of standard, adaptive, legacy"):
        bad.client()


def test_store_region_overrides_the_connection_region(monkeypatch: pytest.MonkeyPatch, moto: Any) -> None:
    hook = sm_store(moto_connection(monkeypatch, moto), region="eu-west-1")
    hook.write("regional", "value", MARKER)
    assert hook.client().meta.region_name == "eu-west-1"
    names = [secret["Name"] for secret in boto3_client(moto, "secretsmanager").list_secrets()["SecretList"]]
    assert names == []  # nothing in the connection's region us-east-1


def test_assume_role_with_external_id_and_session_name(monkeypatch: pytest.MonkeyPatch, moto: Any) -> None:
    role = "arn:aws:iam::123456789012:role/secret-sync"
    conn_id = moto_connection(monkeypatch, moto, role_arn=role, external_id="ext-42",
                              role_session_name="nightly-sync")
    hook = sm_store(conn_id)

    identity = hook.client("sts").get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/secret-sync/nightly-sync"
    hook.write("as-role", "value", MARKER)
    assumed = moto.state("sts")["AssumedRole"]
    assert [(item["role_arn"], item["external_id"], item["session_name"]) for item in assumed] == [
        (role, "ext-42", "nightly-sync")]


def test_assume_role_kwargs_of_the_amazon_provider(monkeypatch: pytest.MonkeyPatch, moto: Any) -> None:
    conn_id = moto_connection(monkeypatch, moto, role_arn="arn:aws:iam::123456789012:role/r",
                              assume_role_kwargs={"ExternalId": "from-kwargs", "DurationSeconds": 900})
    hook = sm_store(conn_id)
    assert hook.client("sts").get_caller_identity()["Arn"].endswith(":assumed-role/r/airflow-secret-sync")
    assert moto.state("sts")["AssumedRole"][0]["external_id"] == "from-kwargs"


def test_profile_and_session_token(monkeypatch: pytest.MonkeyPatch, moto: Any, tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(
        "[sync]\naws_access_key_id = profile-key\naws_secret_access_key = profile-secret\n")
    (tmp_path / "config").write_text(f"[profile sync]\nregion = {REGION}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    set_connection(monkeypatch, "by_profile", extra={"profile_name": "sync", "endpoint_url": moto.endpoint})
    hook = sm_store("by_profile")
    settings = hook.connection_settings()
    assert aws_session(settings, None).get_credentials().access_key == "profile-key"
    hook.write("by-profile", "value", MARKER)
    assert hook.client().meta.region_name == REGION

    set_connection(monkeypatch, "temporary", login="ASIATEMP", password="secret",
                   extra={"aws_session_token": "session-token", "region_name": REGION})
    frozen = aws_session(sm_store("temporary").connection_settings(), None).get_credentials()
    assert (frozen.access_key, frozen.token) == ("ASIATEMP", "session-token")


def test_connection_problems_are_clear(monkeypatch: pytest.MonkeyPatch, moto: Any,
                                       caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(StoreError, match="Airflow connection 'missing' not found"):
        sm_store("missing").read("x")
    set_connection(monkeypatch, "vaultish", conn_type="vault", login="x", password="y")
    with pytest.raises(StoreError, match="type 'vault'; AWS stores need a connection of type"):
        sm_store("vaultish").read("x")
    set_connection(monkeypatch, "half", login="only-the-key-id")
    with pytest.raises(StoreError, match="give both the access key id"):
        sm_store("half").read("x")
    moto_connection(monkeypatch, moto, conn_id="saml", role_arn="arn:aws:iam::1:role/r",
                    assume_role_method="assume_role_with_saml")
    with pytest.raises(StoreError, match="assume_role_method 'assume_role_with_saml' is not supported"):
        sm_store("saml").read("x")

    set_connection(monkeypatch, "no_region", login="k", password="s", extra={"endpoint_url": moto.endpoint})
    with pytest.raises(StoreError, match="set region_name in the connection's extra or region in the store"):
        sm_store("no_region").read("x")
    assert sm_store("no_region", region=REGION).read("x") is None

    moto_connection(monkeypatch, moto, conn_id="typo", regoin_name="eu-west-1")
    with caplog.at_level(logging.WARNING):
        sm_store("typo").read("x")
    assert "ignoring unknown extra fields regoin_name" in caplog.text


def test_credentials_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch, moto: Any) -> None:
    set_connection(monkeypatch, "repr", login="AKIAREPR", password="very-secret-key",
                   extra={"aws_session_token": "very-secret-token"})
    settings = sm_store("repr").connection_settings()
    assert isinstance(settings, AwsConnectionSettings)
    assert "very-secret" not in repr(settings) and "AKIAREPR" in repr(settings)


def test_test_connection(monkeypatch: pytest.MonkeyPatch, moto: Any) -> None:
    ok, message = sm_store(moto_connection(monkeypatch, moto)).check_connection()
    assert ok and "arn:aws:sts::123456789012:" in message
    assert "Secrets Manager reachable in us-east-1" in message

    ssm = AwsParameterStore(store_name="ssm", settings=AwsParameterStoreProvider(
        conn_id=moto_connection(monkeypatch, moto)))
    ok, message = ssm.check_connection()
    assert ok and "Parameter Store reachable" in message

    # Airflow's own connection test builds the hook from the connection id alone
    moto_connection(monkeypatch, moto, conn_id="ui_test")
    ok, message = Connection.get("ui_test").test_connection()
    assert ok and "Secrets Manager reachable" in message
    assert AwsParameterStoreHook(conn_id="ui_test").test_connection()[0]

    down = moto_connection(monkeypatch, moto, conn_id="down", endpoint_url=closed_port_endpoint(),
                           max_attempts=1)
    started = time.monotonic()
    ok, message = sm_store(down).check_connection()
    assert not ok and "Could not connect" in message
    assert time.monotonic() - started < 5
