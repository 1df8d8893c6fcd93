"""What the rest of the package knows about a provider: one :class:`ProviderInfo` per provider package.

Nothing here imports Airflow or a provider client: the spec, the CLI's ``validate`` and Airflow's providers
manager read this without loading either. Hooks and stores are named as ``module:Class`` and imported on
first use, with a message naming the extra to install when the client library is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_secret_sync.spec.base import SpecModel

KeyRule = Callable[[Any, str], "str | None"]
"""``rule(settings, key)``: why ``key`` cannot name a secret in a store with these settings, or ``None``."""

ValueLimit = Callable[[Any], "int | None"]
"""``limit(settings)``: the largest value (bytes) a store with these settings accepts; ``None``: no limit."""

ChangeSignal = Callable[[Any, str], "dict[str, str]"]
"""``signals(store, path)``: key -> an opaque token that changes whenever the secret does, for every key
below ``path``; read from the provider's cheapest metadata, never from a value."""


TagRule = Callable[[Any, str, str], "str | None"]
"""``rule(settings, name, value)``: what is wrong with a query selecting secrets tagged ``name: value`` in a
store with these settings, or ``None``."""


def holds_no_tags(settings: Any, name: str, value: str) -> str:
    return "it holds no tags, labels or custom metadata to select secrets by"


def any_tag(settings: Any, name: str, value: str) -> None:
    return None


class MissingExtra(ImportError):
    """The client library of a provider is not installed."""


@dataclass(frozen=True)
class ProviderInfo:
    """One provider, as the spec, the engine, the CLI, Airflow and the contract suite see it.

    :param kind: the key of the provider block in a ``SecretStore`` (``spec.provider.<kind>``).
    :param spec_model: the pydantic model of that block.
    :param store_factory: ``module:name`` of what makes the store (a :class:`ProviderStore`): its class, or a
        function taking the same keywords (``store_name``, ``settings``, optionally ``get_connection``).
    :param hook_class: ``module:Class`` of the Airflow hook that has a store.
    :param key_problem: the naming rules, checked before any provider call.
    :param value_limit: the provider's size limit for one value, checked before any provider call.
    :param extra: the ``pip install 'airflow-secret-sync[extra]'`` extra holding the client, if any.
    :param connection: the connection type's entry of ``get_provider_info()["connection-types"]``
        (``None`` when the provider shares another's connection type).
    :param contract_fixture: the pytest fixture giving a fresh, empty store to the contract suite.
    :param change_signal: ``module:function`` of the provider's :data:`ChangeSignal`, which the change
        trigger polls.
    :param canonical_key: ``canonical_key(settings, key)``: what the provider compares when it looks a
        secret up; two keys with one canonical key are one secret (e.g. Key Vault's case-insensitive
        names). Identity by default.
    :param tag_refusal: why a query may not select by a tag (the store holds none, or the tag is part of our
        own ownership marker, which must never pass for a user's tag): an error in ``validate``.
    :param tag_problem: why no secret of the store can carry a tag (the provider's syntax refuses it): a
        warning in ``validate``, since the query then selects nothing.
    """

    kind: str
    spec_model: type[SpecModel]
    store_factory: str
    hook_class: str
    key_problem: KeyRule
    value_limit: ValueLimit
    extra: str | None
    change_signal: str
    connection: dict[str, Any] | None = field(default=None, repr=False)
    contract_fixture: str = ""
    canonical_key: Callable[[Any, str], str] = field(default=lambda settings, key: key, repr=False)
    tag_refusal: TagRule = field(default=holds_no_tags, repr=False)
    tag_problem: TagRule = field(default=any_tag, repr=False)

    @property
    def field_name(self) -> str:
        """The snake_case attribute of the ``Provider`` model holding this block."""
        return "".join(f"_{char.lower()}" if char.isupper() else char for char in self.kind)

    def load_store_factory(self) -> Callable[..., Any]:
        return self._load(self.store_factory)

    def load_change_signal(self) -> ChangeSignal:
        signal: ChangeSignal = self._load(self.change_signal)
        return signal

    def load_hook_class(self) -> type[Any]:
        return self._load(self.hook_class)

    def _load(self, path: str) -> Any:
        module_name, _, name = path.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if self.extra is None or (err.name or "").startswith("airflow_secret_sync"):
                raise
            raise MissingExtra(
                f"the {self.kind!r} store needs the {err.name!r} package: "
                f"pip install 'airflow-secret-sync[{self.extra}]'"
            ) from None
        return getattr(module, name)


def form_field(label: str, kind: str | list[str], description: str = "", **schema: Any) -> dict[str, Any]:
    """One extra field of a connection form; ``schema`` adds JSON Schema keywords (default, enum, format)."""
    entry: dict[str, Any] = {"label": label, "schema": {"type": kind, **schema}}
    if description:
        entry["description"] = description
    return entry


def text_field(label: str, description: str = "", **schema: Any) -> dict[str, Any]:
    return form_field(label, ["string", "null"], description, **schema)


def secret_field(label: str, description: str = "") -> dict[str, Any]:
    return form_field(label, ["string", "null"], description, format="password")


def integer_field(label: str, description: str = "", **schema: Any) -> dict[str, Any]:
    return form_field(label, ["integer", "null"], description, **schema)
