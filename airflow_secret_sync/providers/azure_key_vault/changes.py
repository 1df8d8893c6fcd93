"""Key Vault change signal: ``updated_on`` from one ``list_properties_of_secrets`` listing.

``updated_on`` has whole seconds, so a secret updated in the last seconds could change again without its
time moving: for those (rare) secrets the number of versions is read too, which every write increases.
"""

from __future__ import annotations

import time

from airflow_secret_sync.providers.azure_key_vault.store import AzureKeyVaultStore

RECENT_SECONDS = 2


def change_signals(store: AzureKeyVaultStore, path: str) -> dict[str, str]:
    """Key -> last update time and enabled flag of each secret below ``path`` (no value read)."""
    signals: dict[str, str] = {}
    now = time.time()
    for properties in store._listed():
        key = store._key(str(properties.name))
        if not key.startswith(path):
            continue
        updated = properties.updated_on.timestamp() if properties.updated_on else 0.0
        token = f"{updated:.0f}@{'enabled' if properties.enabled is not False else 'disabled'}"
        if now - updated < RECENT_SECONDS:
            with store._calling("list versions", key):
                versions = sum(
                    1 for _ in store.client.list_properties_of_secret_versions(str(properties.name))
                )
            token += f"@{versions}"
        signals[key] = token
    return signals
