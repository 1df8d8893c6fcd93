"""Secret values and the rules that convert, select, merge and compare them.

A value is text (``str``), binary (``bytes``) or a map of fields (``dict``). Stores hold either text
(files, AWS Secrets Manager, GCP payloads) or maps (Vault KV):

* map -> text store: a JSON object with sorted keys;
* text -> map store: a JSON object becomes the map, anything else becomes ``{"value": text}``;
* ``property`` on a source selects one field (of a map, or of JSON-object text);
* ``property`` on a target merges into that one field and leaves the others untouched;
* equality is semantic: maps compare as maps, JSON-object text as the parsed object.

So map -> text -> map round trips are lossless.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any, Literal

Value = str | bytes | dict[str, Any]
ValueKind = Literal["text", "map"]
PLAIN_FIELD = "value"


class ValueShapeError(ValueError):
    """A value that cannot take the requested shape. Messages name fields and keys, never contents."""


def as_text(value: Value) -> str | bytes:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return value


def parse_object(value: str | bytes) -> dict[str, Any] | None:
    """The JSON object held in ``value``, or ``None`` when it is not one."""
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            return None
    stripped = value.lstrip()
    if not stripped.startswith("{"):
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def as_map(value: Value) -> dict[str, Any]:
    if isinstance(value, dict):
        return dict(value)
    parsed = parse_object(value)
    if parsed is not None:
        return parsed
    if isinstance(value, bytes):
        try:
            return {PLAIN_FIELD: value.decode()}
        except UnicodeDecodeError:
            raise ValueShapeError("a binary value cannot be stored in a map store") from None
    return {PLAIN_FIELD: value}


def to_kind(value: Value, kind: ValueKind) -> Value:
    """Convert ``value`` to what a store of ``kind`` holds."""
    return as_map(value) if kind == "map" else as_text(value)


def select_property(value: Value, prop: str) -> Any:
    """The field ``prop`` of a map or JSON-object text."""
    fields = value if isinstance(value, dict) else parse_object(value)
    if fields is None:
        raise ValueShapeError(f"property {prop!r} asked for, but the secret is not a map or JSON object")
    if prop not in fields:
        raise ValueShapeError(
            f"property {prop!r} not found in the secret (fields: {', '.join(sorted(fields))})"
        )
    return fields[prop]


def merge_fields(current: Value | None, fields: dict[str, Any]) -> dict[str, Any]:
    """``current`` as a map with ``fields`` set; its other fields stay untouched."""
    merged = as_map(current) if current is not None else {}
    merged.update(fields)
    return merged


def field_to_value(field_value: Any) -> Value:
    """A selected field used as a whole secret: text stays text, anything else becomes JSON."""
    if isinstance(field_value, str | bytes | dict):
        return field_value
    return json.dumps(field_value, sort_keys=True, ensure_ascii=False)


def _canonical(value: Value) -> Any:
    if isinstance(value, dict):
        return value
    parsed = parse_object(value)
    if parsed is not None:
        return parsed
    return value.encode() if isinstance(value, str) else value


def equal(left: Value | None, right: Value | None) -> bool:
    """Semantic equality: maps as maps, JSON-object text as parsed objects, text and bytes by content."""
    if left is None or right is None:
        return left is right
    return bool(_canonical(left) == _canonical(right))


def leaves(value: Any) -> list[str]:
    """Every text leaf of a value, for masking: the whole text and each field of a map."""
    found: list[str] = []
    if isinstance(value, dict):
        for item in value.values():
            found.extend(leaves(item))
        found.append(str(as_text(value)))
    elif isinstance(value, list):
        for item in value:
            found.extend(leaves(item))
    elif isinstance(value, bytes):
        with contextlib.suppress(UnicodeDecodeError):
            found.append(value.decode())
    elif isinstance(value, str):
        found.append(value)
        parsed = parse_object(value)
        if parsed is not None:
            found.extend(leaves(parsed))
    elif value is not None and not isinstance(value, bool):
        found.append(str(value))
    return [text for text in found if text]
