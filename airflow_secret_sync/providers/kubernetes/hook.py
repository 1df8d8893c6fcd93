"""The ``secret_sync_kubernetes`` connection type: a hook that has a :class:`KubernetesSecretStore`."""

from __future__ import annotations

from airflow_secret_sync.providers.hook import SecretStoreHook


class KubernetesSecretStoreHook(SecretStoreHook):
    """Kubernetes Secrets through an Airflow connection (ours, or a cncf.kubernetes ``kubernetes`` one)."""

    conn_type = "secret_sync_kubernetes"
    hook_name = "Secret Sync: Kubernetes Secrets"
    default_conn_name = "kubernetes_default"
    provider_kind = "kubernetes"
