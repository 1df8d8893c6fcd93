"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``)."""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-secret-sync",
        "name": "Secret Sync",
        "description": "Keep secrets in sync between secret stores, scheduled and audited by Airflow.",
        "versions": ["0.1.0"],
        "connection-types": [],
    }
