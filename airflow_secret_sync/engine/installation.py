"""The installation: an id recorded in every marker, and the key of the value hash drift detection uses.

The marker carries ``<key id>:<HMAC-SHA256 of the value written>``. Without the key, the hash does not help
anyone guess a low-entropy secret from the metadata. A job that writes some properties of a shared secret
hashes those properties only: another writer's fields changing is not this job's drift. The key id (a keyed
hash of a constant) tells a hash made with another key apart: after a key rotation every entry reads
"unknown", never "changed".
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from airflow_secret_sync.engine.values import Value, parse_object

KEY_ID_LENGTH = 8


@dataclass(frozen=True)
class Installation:
    """One installation of secret-sync: its id, and the key its value hashes are made with."""

    id: str
    key: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        return hmac.new(self.key, b"secret-sync key id", hashlib.sha256).hexdigest()[:KEY_ID_LENGTH]

    def value_hash(self, value: Value, properties: tuple[str, ...] | None = None) -> str:
        """``<key id>:<hex HMAC-SHA256>`` of ``value``, the same for values that are equal.

        :param properties: the properties a job writes into a shared secret (a marker's ``properties``):
            only they are hashed; ``None``: the whole value.
        """
        owned = value if properties is None else _owned_part(value, properties)
        digest = hmac.new(self.key, _canonical_bytes(owned), hashlib.sha256).hexdigest()
        return f"{self.key_id}:{digest}"

    def same_value(
        self, recorded: str | None, value: Value, properties: tuple[str, ...] | None = None
    ) -> bool | None:
        """Whether ``value`` (its ``properties``, see :meth:`value_hash`) is the one whose hash is
        ``recorded``; ``None`` when that cannot be told (no hash recorded, or one made with another key)."""
        if not recorded or recorded.split(":", 1)[0] != self.key_id:
            return None
        return hmac.compare_digest(recorded, self.value_hash(value, properties))


def _owned_part(value: Value, properties: tuple[str, ...]) -> Value:
    """The fields ``properties`` of ``value``; a value that is no map any more is hashed whole (it differs
    from any map of fields this job wrote)."""
    fields = value if isinstance(value, dict) else parse_object(value)
    if fields is None:
        return value
    return {name: field for name, field in fields.items() if name in properties}


def _canonical_bytes(value: Value) -> bytes:
    """Maps and JSON-object text as sorted JSON (whole numbers as integers), other text and bytes as is."""
    if isinstance(value, dict):
        return _map_bytes(value)
    parsed = parse_object(value)
    if parsed is not None:
        return _map_bytes(parsed)
    return b"raw:" + (value.encode() if isinstance(value, str) else value)


def _map_bytes(fields: dict[str, Any]) -> bytes:
    return b"map:" + json.dumps(_whole_numbers(fields), sort_keys=True, ensure_ascii=False).encode()


def _whole_numbers(data: Any) -> Any:
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, dict):
        return {name: _whole_numbers(item) for name, item in data.items()}
    if isinstance(data, list):
        return [_whole_numbers(item) for item in data]
    return data
