"""An Airflow hook that has an :class:`AwsParameterStore`, on the same connection type as Secrets Manager."""

from __future__ import annotations

from airflow_secret_sync.providers.aws.conn import CONN_TYPE, DEFAULT_CONN_NAME
from airflow_secret_sync.providers.hook import SecretStoreHook


class AwsParameterStoreHook(SecretStoreHook):
    """AWS Systems Manager Parameter Store through an Airflow connection."""

    conn_type = CONN_TYPE
    hook_name = "Secret Sync: AWS Parameter Store"
    default_conn_name = DEFAULT_CONN_NAME
    provider_kind = "awsParameterStore"
