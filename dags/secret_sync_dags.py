"""One Airflow DAG per SyncJob declared in ``secret_sync/`` next to this file (see docs/airflow.md)."""

from __future__ import annotations

from pathlib import Path

from airflow_secret_sync.dag_factory import register_dags

register_dags(Path(__file__).parent / "secret_sync", globals())
