"""The Airflow hook of the Kubernetes store: connection -> client -> store. It has a store; it is not one."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from airflow_secret_sync.engine.store import Misconfigured
from airflow_secret_sync.providers.kubernetes.conn import KubernetesConnection
from airflow_secret_sync.providers.kubernetes.spec import KubernetesProvider
from airflow_secret_sync.providers.kubernetes.store import KubernetesSecretStore


class KubernetesSecretStoreHook(BaseHook):
    """Kubernetes Secrets through an Airflow connection (ours, or a cncf.kubernetes ``kubernetes`` one).

    :param conn_id: without ``settings``, a store on this connection with default settings: Airflow's
        connection test builds hooks from a connection id alone.
    :param store_name: the ``SecretStore`` name, used in messages.
    :param settings: the store's ``kubernetes`` provider block.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "kubernetes_default"
    conn_type = "secret_sync_kubernetes"
    hook_name = "Secret Sync: Kubernetes Secrets"
    provider_kind = "kubernetes"
    settings_model = KubernetesProvider

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        store_name: str = "connection-test",
        settings: KubernetesProvider | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings or KubernetesProvider.model_validate(
            {"connId": conn_id or self.default_conn_name}
        )
        self.conn_id = self.settings.conn_id
        self.store_name = store_name
        self._store: KubernetesSecretStore | None = None

    @property
    def store(self) -> KubernetesSecretStore:
        """The store; its client is built from the connection on first use."""
        if self._store is None:
            self._store = KubernetesSecretStore(self.settings, self._connect, store_name=self.store_name)
        return self._store

    def _connect(self) -> tuple[Any, str | None]:
        try:
            conn = self.get_connection(self.conn_id)
        except Exception as err:
            raise Misconfigured(
                f"Kubernetes store {self.store_name!r}: connection {self.conn_id!r}: {err}"
            ) from None
        settings = KubernetesConnection.from_fields(
            self.conn_id, host=conn.host, password=conn.password, extra=conn.extra_dejson
        )
        self.log.info("Kubernetes store %s: %s", self.store_name, settings.method)
        return settings.api_client()

    def get_conn(self) -> KubernetesSecretStore:
        return self.store

    def test_connection(self) -> tuple[bool, str]:
        """List the store's Secrets with the connection's credentials."""
        try:
            return self.store.test_connection()
        except Exception as err:  # Airflow shows the message in the connection form
            return False, str(err)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
