"""The base every store hook shares: an Airflow hook that is also a store of the engine."""

from __future__ import annotations

import abc
from typing import Any

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
    provider_kind: str = ""

    def __init__(self, *, store_name: str, settings: SpecModel, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_name = store_name
        self.settings = settings
        self.conn_id: str | None = getattr(settings, "conn_id", None) or self.default_conn_name

    default_conn_name: str | None = None

    @abc.abstractmethod
    def test_connection(self) -> tuple[bool, str]:
        """Check credentials and access; ``(ok, message)`` as Airflow's connection test expects."""

    def get_conn(self) -> Any:
        return self
