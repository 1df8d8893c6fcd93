"""Azure Key Vault secrets as a secret store (provider kind ``azureKeyVault``).

``naming``, ``spec`` and ``conn`` import neither Airflow nor the Azure SDK; ``store`` needs the ``[azure]``
extra and ``hook`` Airflow too. See docs/providers/azure-key-vault.md.
"""

from __future__ import annotations

from airflow_secret_sync.providers.azure_key_vault import spec
from airflow_secret_sync.providers.info import ProviderInfo, form_field, integer_field, text_field

CONN_TYPE = "secret_sync_azure_key_vault"
TEST_ONLY_EXTRA = "test_server"
"""The connection extra that marks a local test server, for tests only (see ``conn``)."""

CONNECTION = {
    "connection-type": CONN_TYPE,
    "hook-class-name": "airflow_secret_sync.providers.azure_key_vault.hook.AzureKeyVaultHook",
    "hook-name": "Secret Sync: Azure Key Vault",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "extra"],
        "relabeling": {"host": "Vault URL", "login": "Client ID", "password": "Client secret"},
        "placeholders": {
            "host": "https://my-vault.vault.azure.net (or set vaultUrl on the store)",
            "login": "service principal: the application (client) id; empty for DefaultAzureCredential",
            "password": "service principal: the client secret",
        },
    },
    "conn-fields": {
        "tenantId": text_field("Tenant ID", "Service principal: the Microsoft Entra tenant (directory) id."),
        "managed_identity_client_id": text_field(
            "Managed identity client ID", "A user-assigned managed identity (DefaultAzureCredential)."
        ),
        "workload_identity_tenant_id": text_field(
            "Workload identity tenant ID", "The tenant of a workload identity (DefaultAzureCredential)."
        ),
        "connection_verify": text_field("CA bundle", "Path of a PEM file with the CA certificates to trust."),
        "max_retries": integer_field(
            "Retries", "Retries of throttled (429, honouring Retry-After) and failed (5xx) calls.", minimum=0
        ),
        TEST_ONLY_EXTRA: form_field(
            "Test server (tests only)",
            ["boolean", "null"],
            "Talk to a local Key Vault emulator: static test token, no challenge-resource check. "
            "Never set it for a real vault.",
            default=False,
        ),
    },
}

INFO = ProviderInfo(
    kind=spec.KIND,
    spec_model=spec.AzureKeyVaultProvider,
    store_factory="airflow_secret_sync.providers.azure_key_vault.store:AzureKeyVaultStore",
    hook_class="airflow_secret_sync.providers.azure_key_vault.hook:AzureKeyVaultHook",
    change_signal="airflow_secret_sync.providers.azure_key_vault.changes:change_signals",
    key_problem=spec.key_problem,
    value_limit=spec.value_limit,
    extra="azure",
    connection=CONNECTION,
    contract_fixture="azure_key_vault_contract_store",
    canonical_key=spec.canonical_key,
    tag_refusal=spec.tag_refusal,
    tag_problem=spec.tag_problem,
)
