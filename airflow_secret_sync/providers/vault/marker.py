"""The ownership marker in a KV v2 secret's ``custom_metadata``, under our own ``secret-sync.`` keys.

People keep their own fields there (``job``, ``owner``, ``team``...): ours are namespaced so they never
touch them. Markers written before the namespace (plain ``managed-by: airflow-secret-sync``, ``job``,
``source-store``...) are still read, and replaced by namespaced ones the next time the marker is recorded;
plain fields are only ever ours when ``managed-by`` says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from airflow_secret_sync.engine.store import MARKER_FIELD_NAMES, Marker
from airflow_secret_sync.providers.base import merge_marker
from airflow_secret_sync.providers.vault.spec import MARKER_FIELD_PREFIX

FIELD_PREFIX = MARKER_FIELD_PREFIX
# Markers written before the namespace used these field names as they are.
PLAIN_FIELDS = MARKER_FIELD_NAMES


def marker_fields(marker: Marker) -> dict[str, str]:
    """The ``custom_metadata`` fields that record ``marker``."""
    return {FIELD_PREFIX + name: text for name, text in marker.as_fields().items()}


def marker_in(custom: Mapping[str, str]) -> Marker | None:
    """The marker recorded in ``custom`` (namespaced, or the older plain form), or ``None``."""
    namespaced = {
        name[len(FIELD_PREFIX) :]: text for name, text in custom.items() if name.startswith(FIELD_PREFIX)
    }
    return Marker.from_fields(namespaced) or Marker.from_fields(dict(custom))


def marker_field_test(custom: Mapping[str, str]) -> Callable[[str], bool]:
    """Whether a field of ``custom`` belongs to our marker: the namespaced ones, and the plain ones when
    ``custom`` holds a marker of ours in the older plain form (else they are someone's own fields)."""
    plain_is_ours = Marker.from_fields(dict(custom)) is not None

    def is_ours(name: str) -> bool:
        return name.startswith(FIELD_PREFIX) or (plain_is_ours and name in PLAIN_FIELDS)

    return is_ours


def with_marker(custom: Mapping[str, str], marker: Marker) -> dict[str, str]:
    """``custom`` with ``marker`` recorded: our namespaced fields replaced, a plain marker of ours moved to
    the namespace, everyone else's fields kept."""
    return merge_marker(custom, marker_fields(marker), marker_field_test(custom))
