"""Google Cloud Secret Manager."""

from __future__ import annotations

from airflow_secret_sync.providers.gcp import spec
from airflow_secret_sync.providers.info import ProviderInfo, secret_field, text_field

CONNECTION = {
    "connection-type": "secret_sync_gcp",
    "hook-class-name": "airflow_secret_sync.providers.gcp.hook.GcpSecretManagerHook",
    "hook-name": "Secret Sync: GCP Secret Manager",
    "ui-field-behaviour": {
        "hidden-fields": ["host", "port", "schema", "login", "password", "extra"],
        "relabeling": {},
        "placeholders": {},
    },
    "conn-fields": {
        "project": text_field("Project ID", "The default project; a store's projectId wins."),
        "key_path": text_field(
            "Key file path",
            "A service account key file; leave both key fields empty to use Application Default Credentials.",
        ),
        "keyfile_dict": secret_field("Key file JSON", "The service account key file's content."),
        "api_endpoint": text_field("API endpoint", "A regional or private endpoint, or an emulator."),
        "transport": text_field(
            "Transport", "How the client talks to the API.", enum=["rest", "grpc"], default="rest"
        ),
    },
}

INFO = ProviderInfo(
    kind="gcp",
    spec_model=spec.GcpProvider,
    store_factory="airflow_secret_sync.providers.gcp.store:GcpSecretManagerStore",
    hook_class="airflow_secret_sync.providers.gcp.hook:GcpSecretManagerHook",
    change_signal="airflow_secret_sync.providers.gcp.changes:change_signals",
    key_problem=spec.key_problem,
    value_limit=spec.value_limit,
    extra="gcp",
    connection=CONNECTION,
    contract_fixture="gcp_contract_store",
    tag_refusal=spec.tag_refusal,
    tag_problem=spec.tag_problem,
)
