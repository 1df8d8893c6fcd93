"""Airflow operators of a SyncJob's DAG: thin wrappers over the engine's query, transform, push and report."""

from __future__ import annotations

from airflow_secret_sync.operators.sync import (
    SecretPushOperator,
    SecretQueryOperator,
    SecretSyncConfigErrorOperator,
    SecretSyncReportOperator,
    SecretTransformOperator,
)

__all__ = [
    "SecretPushOperator",
    "SecretQueryOperator",
    "SecretSyncConfigErrorOperator",
    "SecretSyncReportOperator",
    "SecretTransformOperator",
]
