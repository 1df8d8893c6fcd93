"""HashiCorp Vault / OpenBao KV mounts (v1 and v2)."""

from __future__ import annotations

from airflow_secret_sync.providers.info import (
    ProviderInfo,
    form_field,
    integer_field,
    secret_field,
    text_field,
)
from airflow_secret_sync.providers.vault import spec

CONNECTION = {
    "connection-type": "secret_sync_vault",
    "hook-class-name": "airflow_secret_sync.providers.vault.hook.VaultSecretStoreHook",
    "hook-name": "Secret Sync: Vault / OpenBao",
    "ui-field-behaviour": {
        "hidden-fields": ["extra"],
        "relabeling": {
            "schema": "Scheme (http or https)",
            "login": "Username / Role ID",
            "password": "Token / Password / Secret ID",
        },
        "placeholders": {
            "host": "vault.example.com, or a full URL such as https://vault.example.com:8200",
            "port": "8200",
            "schema": "https",
            "login": "userpass: the username; approle: the role ID",
            "password": "token: the token; userpass: the password; approle: the secret ID",
        },
    },
    "conn-fields": {
        "auth_type": text_field(
            "Auth method",
            "How to log in: token (password), approle (login + password), userpass (login + password), "
            "kubernetes (role + service account token file) or jwt (role + jwt).",
            enum=["token", "approle", "userpass", "kubernetes", "jwt"],
            default="token",
        ),
        "namespace": text_field("Namespace", "Vault Enterprise / OpenBao namespace, if any."),
        "verify": form_field(
            "Verify TLS", ["boolean", "null"], "Check the server's certificate.", default=True
        ),
        "ca_bundle": text_field("CA bundle", "Path of a PEM file with the CA certificates to trust."),
        "timeout": integer_field("Timeout (seconds)", "Per request.", default=30, minimum=1),
        "auth_mount_point": text_field(
            "Auth mount point", "Where the auth method is mounted, if not its default path."
        ),
        "role": text_field("Role", "kubernetes and jwt auth: the role to log in as."),
        "kubernetes_jwt_path": text_field(
            "Kubernetes token path",
            "kubernetes auth: the service account token file.",
            default="/var/run/secrets/kubernetes.io/serviceaccount/token",
        ),
        "jwt": secret_field("JWT", "jwt auth: the token to log in with."),
        "retries": integer_field(
            "Retries", "Retries on connection errors, 429 and 5xx responses.", default=3, minimum=0
        ),
    },
}

INFO = ProviderInfo(
    kind="vault",
    spec_model=spec.VaultProvider,
    store_factory="airflow_secret_sync.providers.vault.store:VaultStore",
    hook_class="airflow_secret_sync.providers.vault.hook:VaultSecretStoreHook",
    change_signal="airflow_secret_sync.providers.vault.changes:change_signals",
    key_problem=spec.key_problem,
    value_limit=spec.value_limit,
    extra="vault",
    connection=CONNECTION,
    contract_fixture="vault_contract_store",
    tag_refusal=spec.tag_refusal,
    tag_problem=spec.tag_problem,
)
