"""The ``secret_sync_gcp`` connection type: an Airflow hook that has a :class:`GcpSecretManagerStore`."""

from __future__ import annotations

from airflow_secret_sync.providers.hook import SecretStoreHook


class GcpSecretManagerHook(SecretStoreHook):
    """Google Cloud Secret Manager through an Airflow connection (our type or ``google_cloud_platform``)."""

    conn_type = "secret_sync_gcp"
    hook_name = "Secret Sync: GCP Secret Manager"
    default_conn_name = "secret_sync_gcp_default"
    provider_kind = "gcp"
