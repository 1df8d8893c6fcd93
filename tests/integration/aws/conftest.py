"""Fixtures of the AWS store tests: hooks built from an Airflow connection to the session's moto server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.missing import require_module

require_module("boto3", "aws")

from airflow_secret_sync.hooks.aws import AwsParameterStoreHook, AwsSecretsManagerHook  # noqa: E402
from airflow_secret_sync.spec.models import AwsParameterStoreProvider, AwsProvider  # noqa: E402
from tests.fixtures.moto import MotoServer, boto3_client, moto_connection  # noqa: E402


@pytest.fixture
def make_sm(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., AwsSecretsManagerHook]]:
    """Build Secrets Manager hooks on moto; ``settings`` go to the store's ``aws`` block."""
    hooks: list[AwsSecretsManagerHook] = []

    def make(**settings: Any) -> AwsSecretsManagerHook:
        settings.setdefault("conn_id", moto_connection(monkeypatch, moto))
        hook = AwsSecretsManagerHook(store_name="aws-test", settings=AwsProvider(**settings))
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def make_ssm(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., AwsParameterStoreHook]]:
    """Build Parameter Store hooks on moto; ``settings`` go to the store's ``awsParameterStore`` block."""
    hooks: list[AwsParameterStoreHook] = []

    def make(**settings: Any) -> AwsParameterStoreHook:
        settings.setdefault("conn_id", moto_connection(monkeypatch, moto))
        settings.setdefault("path_prefix", "/apps/")
        hook = AwsParameterStoreHook(store_name="ssm-test", settings=AwsParameterStoreProvider(**settings))
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


@pytest.fixture
def sm(moto: MotoServer) -> Any:
    """A plain boto3 Secrets Manager client on moto, to look behind the hook's back."""
    return boto3_client(moto, "secretsmanager")


@pytest.fixture
def ssm(moto: MotoServer) -> Any:
    """A plain boto3 SSM client on moto."""
    return boto3_client(moto, "ssm")


def record_calls(client: Any) -> list[str]:
    """The names of the API operations ``client`` makes from now on (botocore's own event hook)."""
    calls: list[str] = []
    client.meta.events.register("before-call.*.*", lambda model, **_: calls.append(model.name))
    return calls


def record_requests(client: Any) -> list[str]:
    """The API operation of every HTTP request ``client`` sends from now on, retries included."""
    requests: list[str] = []
    client.meta.events.register(
        "before-send.*.*", lambda event_name, **_: requests.append(event_name.rsplit(".", 1)[-1])
    )
    return requests
