"""Names, spec checks, marker tags, connections and error mapping of ``azureKeyVault``, offline."""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace
from typing import Any

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from airflow_secret_sync.engine.store import (
    Conflict,
    Marker,
    Misconfigured,
    NotFound,
    PermissionDenied,
    StoreError,
    Transient,
)
from airflow_secret_sync.providers.azure_key_vault.conn import (
    AzureConnectionSettings,
    StaticTokenCredential,
    secret_client,
)
from airflow_secret_sync.providers.azure_key_vault.naming import (
    DEFAULT_NAME_MAPPING,
    NAME_PATTERN,
    canonical_name,
    key_of,
    name_problem,
    secret_name,
)
from airflow_secret_sync.providers.azure_key_vault.spec import SIZE_LIMIT_BYTES, AzureKeyVaultProvider
from airflow_secret_sync.providers.azure_key_vault.store import (
    marker_of,
    marker_tags,
    merged_tags,
    typed_error,
)

# --------------------------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("key", "name"),
    [("db/password", "db--password"), ("a/-b", "a---b"), ("/x", "--x"), ("MixedCase-09", "MixedCase-09")],
)
def test_allowed_keys_and_their_names(key: str, name: str) -> None:
    assert name_problem(key) is None
    assert secret_name(key) == name and key_of(name) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("a--b", "read back as key 'a/b'"),
        ("a-/b", "read back"),
        ("", "empty"),
        ("under_score", "letters, digits and '-'"),
        ("dots.in.name", "letters, digits and '-'"),
        ("k" * 128, "127"),
    ],
)
def test_refused_keys_say_why(key: str, reason: str) -> None:
    problem = name_problem(key)
    assert problem is not None and reason in problem


@given(st.text(alphabet="ab-/_", min_size=1, max_size=20))
def test_no_two_allowed_keys_share_a_name(key: str) -> None:
    mapping = {"/": "--", "_": "-u-"}
    if name_problem(key, mapping) is None:
        name = secret_name(key, mapping)
        assert re.match(NAME_PATTERN, name) and key_of(name, mapping) == key


@given(st.from_regex(r"[0-9a-zA-Z-]{1,60}", fullmatch=True))
def test_every_name_in_a_vault_stands_for_one_key(name: str) -> None:
    assert secret_name(key_of(name)) == name


def test_names_differing_in_case_are_one_secret() -> None:
    assert canonical_name("Team/API") == canonical_name("team/api")
    assert DEFAULT_NAME_MAPPING == {"/": "--"} and SIZE_LIMIT_BYTES == 25600


# --------------------------------------------------------------------------------------------- spec


def test_spec_defaults_and_limits() -> None:
    spec = AzureKeyVaultProvider.model_validate({"connId": "c", "vaultUrl": "https://v.vault.azure.net/"})
    assert spec.vault_url == "https://v.vault.azure.net" and spec.purge_on_delete is False
    assert spec.name_mapping == {"/": "--"} and spec.key_problem("a--b") is not None
    AzureKeyVaultProvider.model_validate({"connId": "c", "tags": {f"t{i}": "v" for i in range(4)}})
    for bad in (
        {"tags": {f"t{i}": "v" for i in range(5)}},  # a run's marker takes 11 of Key Vault's 15
        {"tags": {"k" * 513: "v"}},
        {"tags": {"k": "v" * 257}},
        {"tags": {"secret-sync.job": "x"}},
        {"nameMapping": {"/": "a/b"}},
        {"nameMapping": {"a": "b"}},
        {"nameMapping": {"/": "-x-", "_": "-X-"}},
        {"vaultUrl": "http://v.vault.azure.net"},
        {"vaultUrl": "https://v.vault.azure.net/secrets"},
        {"purgeOnDeletion": True},
    ):
        with pytest.raises(ValidationError):
            AzureKeyVaultProvider.model_validate({"connId": "c", **bad})


# --------------------------------------------------------------------------------------------- markers


def test_marker_tags_round_trip_and_keep_users_tags() -> None:
    marker = Marker(job="j", source_store="s", source_key="x" * 300, source_version=None)
    tags = marker_tags(marker)
    assert all(len(text) <= 256 for text in tags.values()) and "secret-sync.source-key.2" in tags
    assert marker_of(tags) == marker
    merged = merged_tags(
        {"owner": "me", **marker_tags(Marker("old", "s", "k", "9"))}, {"env": "prod"}, marker
    )
    assert merged["owner"] == "me" and merged["env"] == "prod" and marker_of(merged) == marker
    assert "secret-sync.source-version" not in merged
    assert marker_of({"owner": "me"}) is None


# --------------------------------------------------------------------------------------------- connections


def connection(**fields: Any) -> Any:
    fields.setdefault("conn_id", "c")
    for name in ("host", "login", "password"):
        fields.setdefault(name, None)
    fields["extra_dejson"] = fields.pop("extra", {})
    return SimpleNamespace(**fields)


def test_a_service_principal_in_the_azure_providers_conventions() -> None:
    from azure.identity import ClientSecretCredential

    settings = AzureConnectionSettings.from_connection(
        connection(login="app-id", password="app-secret", extra={"extra__azure__tenantId": "tenant"})
    )
    assert isinstance(settings.credential(), ClientSecretCredential)
    assert "app-secret" not in repr(settings)


def test_without_a_secret_default_azure_credential_with_the_identities_given() -> None:
    from azure.identity import DefaultAzureCredential

    settings = AzureConnectionSettings.from_connection(
        connection(
            host="my-vault.vault.azure.net",
            extra={
                "managed_identity_client_id": "mi",
                "workload_identity_tenant_id": "t",
                "max_retries": "2",
            },
        )
    )
    assert settings.vault_url == "https://my-vault.vault.azure.net" and settings.max_retries == 2
    assert isinstance(settings.credential(), DefaultAzureCredential)


def test_only_the_test_server_extra_skips_the_challenge_check(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from azure.identity import DefaultAzureCredential

    url = "https://127.0.0.1:8443"
    plain = AzureConnectionSettings.from_connection(connection(host=url))
    assert not plain.test_server and isinstance(plain.credential(), DefaultAzureCredential)
    assert secret_client(url, plain)._client._config.authentication_policy._verify_challenge_resource

    test = AzureConnectionSettings.from_connection(connection(host=url, extra={"test_server": "true"}))
    assert isinstance(test.credential(), StaticTokenCredential)
    with caplog.at_level(logging.WARNING):
        client = secret_client(url, test)
    assert not client._client._config.authentication_policy._verify_challenge_resource
    assert "test_server" in caplog.text and "test server" in caplog.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "s", "extra": {"tenantId": "t"}}, "client id"),
        ({"login": "id", "password": "s"}, "tenantId"),
        ({"extra": {"connection_verify": False}}, "cannot be turned off"),
        ({"extra": {"connection_verify": "/no/such/ca.pem"}}, "not found"),
        ({"extra": {"max_retries": "many"}}, "whole number"),
    ],
)
def test_connection_mistakes_are_misconfigurations(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(Misconfigured, match=message):
        AzureConnectionSettings.from_connection(connection(**fields)).credential()


# --------------------------------------------------------------------------------------------- errors


class _Response:
    """Just what azure-core's HttpResponseError reads from a response."""

    def __init__(self, status: int, code: str, inner: str | None = None) -> None:
        self.status_code = status
        self.reason = "reason"
        self.headers: dict[str, str] = {"Content-Type": "application/json"}
        error: dict[str, Any] = {"code": code, "message": f"{code} happened"}
        if inner:
            error["innererror"] = {"code": inner}
        self._body = json.dumps({"error": error}).encode()
        self.content_type = "application/json"
        self.request = None

    def body(self) -> bytes:
        return self._body

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode()


@pytest.mark.parametrize(
    ("err", "kind", "retryable"),
    [
        (ClientAuthenticationError(response=_Response(401, "Unauthorized")), PermissionDenied, False),
        (HttpResponseError(response=_Response(403, "Forbidden", "ForbiddenByRbac")), PermissionDenied, False),
        (
            HttpResponseError(response=_Response(403, "Forbidden", "PurgeProtectionEnabled")),
            PermissionDenied,
            False,
        ),
        (ResourceNotFoundError(response=_Response(404, "SecretNotFound")), NotFound, False),
        (
            ResourceExistsError(response=_Response(409, "Conflict", "ObjectIsDeletedButRecoverable")),
            Conflict,
            False,
        ),
        (HttpResponseError(response=_Response(429, "Throttled")), Transient, True),
        (HttpResponseError(response=_Response(503, "ServiceUnavailable")), Transient, True),
        (ServiceRequestError("connection refused"), Transient, True),
        (HttpResponseError(response=_Response(400, "BadParameter")), StoreError, False),
        (ValueError("The challenge resource 'x' does not match the requested domain."), Misconfigured, False),
    ],
)
def test_sdk_errors_map_to_typed_store_errors(
    err: Exception, kind: type[StoreError], retryable: bool
) -> None:
    typed = typed_error(err, "Azure Key Vault store 's', key 'k'", "write")
    assert type(typed) is kind and typed.retryable is retryable
    assert "key 'k'" in str(typed) and "write failed" in str(typed)


@pytest.mark.parametrize(
    "err",
    [
        HttpResponseError(response=_Response(403, "Forbidden", "SecretDisabled")),  # Key Vault
        ResourceNotFoundError(response=_Response(404, "Operation get is not allowed on a disabled entity.")),
    ],
    ids=["key-vault", "lowkey-vault"],
)
def test_a_read_refused_for_a_disabled_secret_is_recognised(err: HttpResponseError) -> None:
    from airflow_secret_sync.providers.azure_key_vault.store import _disabled

    assert _disabled(err)
    assert not _disabled(ResourceNotFoundError(response=_Response(404, "SecretNotFound")))
