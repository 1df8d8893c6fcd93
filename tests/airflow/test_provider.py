"""Provider registration: what Airflow's providers manager and the connection form see."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from airflow_secret_sync.get_provider_info import get_provider_info

pytestmark = pytest.mark.airflow

EXPECTED_EXTRAS = {
    "secret_sync_vault": {
        "auth_type",
        "namespace",
        "verify",
        "ca_bundle",
        "timeout",
        "auth_mount_point",
        "role",
        "kubernetes_jwt_path",
        "jwt",
        "retries",
    },
    "secret_sync_aws": {
        "region_name",
        "aws_session_token",
        "role_arn",
        "external_id",
        "role_session_name",
        "profile_name",
        "endpoint_url",
        "retry_mode",
        "max_attempts",
    },
    "secret_sync_gcp": {"project", "key_path", "keyfile_dict", "api_endpoint", "transport"},
    "secret_sync_kubernetes": {
        "in_cluster",
        "kube_config_path",
        "kube_config",
        "cluster_context",
        "namespace",
        "disable_verify_ssl",
        "ca_cert",
        "ca_cert_path",
    },
    "secret_sync_azure_key_vault": {
        "tenantId",
        "managed_identity_client_id",
        "workload_identity_tenant_id",
        "connection_verify",
        "max_retries",
        "test_server",
    },
    "secret_sync_file": set(),
}
SENSITIVE = {
    ("secret_sync_vault", "jwt"),
    ("secret_sync_aws", "aws_session_token"),
    ("secret_sync_gcp", "keyfile_dict"),
    ("secret_sync_kubernetes", "kube_config"),
}


def airflow_schema(name: str) -> dict[str, Any]:
    import airflow

    return json.loads((Path(airflow.__file__).parent / name).read_text())  # type: ignore[no-any-return]


def test_provider_info_follows_airflow_schemas() -> None:
    info = get_provider_info()

    assert info["package-name"] == "airflow-secret-sync"
    jsonschema.validate(info, airflow_schema("provider_info.schema.json"))
    # The provider.yaml schema describes the form keys (ui-field-behaviour, conn-fields) in detail.
    yaml_schema = airflow_schema("provider.yaml.schema.json")
    jsonschema.validate(info["connection-types"], yaml_schema["properties"]["connection-types"])
    assert {entry["connection-type"] for entry in info["connection-types"]} == set(EXPECTED_EXTRAS)


def test_providers_manager_lists_the_connection_forms() -> None:
    from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-secret-sync" in manager.providers
    forms = {meta.connection_type: meta for meta in HookMetaService.hook_meta_data()}

    for conn_type, extras in EXPECTED_EXTRAS.items():
        form = forms[conn_type]
        assert form.hook_name.startswith("Secret Sync")
        assert set(form.extra_fields or {}) == extras
        for name, field in (form.extra_fields or {}).items():
            assert field["schema"]["title"]
            assert (field["schema"].get("format") == "password") == ((conn_type, name) in SENSITIVE)
    vault = forms["secret_sync_vault"].standard_fields
    assert vault.login.title == "Username / Role ID"
    assert vault.password.title == "Token / Password / Secret ID"
    assert forms["secret_sync_vault"].extra_fields["auth_type"]["schema"]["enum"] == [
        "token",
        "approle",
        "userpass",
        "kubernetes",
        "jwt",
    ]
    aws = forms["secret_sync_aws"].standard_fields
    assert (aws.login.title, aws.password.title) == ("Access key ID", "Secret access key")
    file = forms["secret_sync_file"].standard_fields
    assert all(getattr(file, name).hidden for name in ("host", "port", "login", "password", "url_schema"))


def test_hooks_that_import_register_with_their_connection_type() -> None:
    """Hooks are imported lazily by Airflow; check those whose modules (and clients) are installed."""
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    hooks = ProvidersManagerTaskRuntime().hooks
    checked = 0
    for entry in get_provider_info()["connection-types"]:
        module, _, name = entry["hook-class-name"].rpartition(".")
        try:
            hook_class = getattr(importlib.import_module(module), name)
        except ImportError:
            continue
        assert hook_class.conn_type == entry["connection-type"]
        info = hooks[entry["connection-type"]]
        assert info is not None and info.package_name == "airflow-secret-sync"
        checked += 1
    assert checked >= 1  # the file store's hook always imports
