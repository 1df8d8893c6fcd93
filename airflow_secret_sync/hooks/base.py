"""The base every store hook shares: an Airflow hook that is also a store of the engine."""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from airflow.sdk import BaseHook

from airflow_secret_sync.engine.store import SecretStoreBackend
from airflow_secret_sync.spec.models import SpecModel


class SecretStoreHook(BaseHook, SecretStoreBackend):
    """A secret store reached through an Airflow connection.

    Subclasses turn the connection into an authenticated client (lazily, on first use) and implement the
    store interface; provider quirks stay in their module.

    :param store_name: the ``SecretStore`` document's name, used in messages and audit records.
    :param settings: the provider block of the store's spec (``spec.provider.<kind>``).
    """

    conn_name_attr = "conn_id"
    default_conn_name: str | None = None
    provider_kind: str = ""
    settings_model: ClassVar[type[SpecModel] | None] = None

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        store_name: str = "connection-test",
        settings: SpecModel | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if settings is None:
            # Airflow's "Test connection" builds a hook from a connection id alone: use the provider defaults
            if self.settings_model is None:
                raise TypeError(f"{type(self).__name__} needs the store's settings")
            settings = self.settings_model.model_validate({"connId": conn_id or self.default_conn_name})
        self.store_name = store_name
        self.settings = settings
        self.conn_id: str | None = getattr(settings, "conn_id", None) or conn_id or self.default_conn_name

    @abc.abstractmethod
    def test_connection(self) -> tuple[bool, str]:
        """Check credentials and access; ``(ok, message)`` as Airflow's connection test expects."""

    def get_conn(self) -> Any:
        return self
