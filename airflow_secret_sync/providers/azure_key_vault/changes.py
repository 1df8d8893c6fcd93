"""Key Vault change signal: ``updated_on`` from one ``list_properties_of_secrets`` listing."""

from __future__ import annotations

from airflow_secret_sync.providers.azure_key_vault.store import AzureKeyVaultStore


def change_signals(store: AzureKeyVaultStore, path: str) -> dict[str, str]:
    """Key -> last update time and enabled flag of each secret below ``path`` (no value read)."""
    signals: dict[str, str] = {}
    for properties in store._listed():
        key = store._key(str(properties.name))
        if key.startswith(path):
            updated = properties.updated_on.isoformat() if properties.updated_on else ""
            signals[key] = f"{updated}@{'enabled' if properties.enabled is not False else 'disabled'}"
    return signals
