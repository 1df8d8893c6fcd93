"""The Airflow hook of a provider: a connection type in Airflow's UI that has a store of that provider."""

from __future__ import annotations

from typing import Any, ClassVar

from airflow.sdk import BaseHook

from airflow_secret_sync.providers.base import ProviderStore
from airflow_secret_sync.spec.base import SpecModel


class SecretStoreHook(BaseHook):
    """A secret store reached through an Airflow connection: the hook *has* a store (:attr:`store`).

    :param conn_id: without ``settings``, a store on this connection with the provider's default settings
        (Airflow's "Test connection" builds hooks from a connection id alone).
    :param store_name: the ``SecretStore`` document's name, used in messages and audit records.
    :param settings: the provider block of the store's spec (``spec.provider.<kind>``).
    :param store_kwargs: further arguments of the store class.
    """

    conn_name_attr = "conn_id"
    default_conn_name: str | None = None
    provider_kind: ClassVar[str] = ""

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        store_name: str = "connection-test",
        settings: SpecModel | None = None,
        **store_kwargs: Any,
    ) -> None:
        super().__init__()
        from airflow_secret_sync.providers.registry import provider

        info = provider(self.provider_kind)
        if settings is None:
            settings = info.spec_model.model_validate({"connId": conn_id or self.default_conn_name})
        self.store_name = store_name
        self.settings = settings
        self.conn_id: str | None = getattr(settings, "conn_id", None) or conn_id or self.default_conn_name
        self._store_factory = info.load_store_factory()
        self._store_kwargs = store_kwargs
        self._store: ProviderStore | None = None

    @property
    def store(self) -> ProviderStore:
        """The store, made on first use; it looks the connection up through this hook."""
        if self._store is None:
            kwargs = dict(self._store_kwargs)
            if self.conn_id is not None:
                kwargs.setdefault("get_connection", self.get_connection)
            self._store = self._store_factory(store_name=self.store_name, settings=self.settings, **kwargs)
        return self._store

    def get_conn(self) -> ProviderStore:
        return self.store

    def test_connection(self) -> tuple[bool, str]:
        """Check credentials and access; ``(ok, message)`` as Airflow's connection test expects."""
        return self.store.check_connection()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
