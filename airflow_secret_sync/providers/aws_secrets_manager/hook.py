"""The ``secret_sync_aws`` connection type: an Airflow hook that has an :class:`AwsSecretsManagerStore`."""

from __future__ import annotations

from airflow_secret_sync.providers.aws.conn import CONN_TYPE, DEFAULT_CONN_NAME
from airflow_secret_sync.providers.hook import SecretStoreHook


class AwsSecretsManagerHook(SecretStoreHook):
    """AWS Secrets Manager through an Airflow connection (our type, or the Amazon provider's ``aws``)."""

    conn_type = CONN_TYPE
    hook_name = "Secret Sync: AWS"
    default_conn_name = DEFAULT_CONN_NAME
    provider_kind = "aws"
