"""The operators of a SyncJob's DAG: thin wrappers of the engine (query, transform, push, delete, report)."""

from __future__ import annotations

from airflow_secret_sync.operators.sync import (
    SecretDeleteOperator,
    SecretPushOperator,
    SecretQueryOperator,
    SecretSyncConfigErrorOperator,
    SecretSyncReportOperator,
    SecretTransformOperator,
)

__all__ = [
    "SecretDeleteOperator",
    "SecretPushOperator",
    "SecretQueryOperator",
    "SecretSyncConfigErrorOperator",
    "SecretSyncReportOperator",
    "SecretTransformOperator",
]
