"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

Since Airflow 3.2 the connection forms are built from this dict (``ui-field-behaviour`` and ``conn-fields``),
without importing the hooks: the connection types come from the provider registry, which imports no hook
module and no provider client.
"""

from __future__ import annotations

from typing import Any

from airflow_secret_sync.providers.registry import PROVIDERS


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-secret-sync",
        "name": "Secret Sync",
        "description": "Keep secrets in sync between secret stores, scheduled and audited by Airflow.",
        "versions": ["0.1.0"],
        "connection-types": [info.connection for info in PROVIDERS if info.connection is not None],
    }
