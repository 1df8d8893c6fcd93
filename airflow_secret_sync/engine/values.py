"""Secret values and the rules that convert, select, merge and compare them.

A value is text (``str``), binary (``bytes``) or a map of fields (``dict``). Stores hold either text
(files, AWS Secrets Manager, GCP payloads) or maps (Vault KV):

* map -> text store: a JSON object with sorted keys;
* text -> map store: a JSON object becomes the map, anything else becomes ``{"value": text}``;
* ``property`` on a source selects one field (of a map, or of JSON-object text);
* ``property`` on a target merges into that one field and leaves the others untouched;
* equality is semantic and typed: maps compare as maps, JSON-object text as the parsed object, and each
  field by type and content (``true`` is not ``1``, ``1`` is not ``"1"``; numbers by value, so ``1.0`` is
  ``1``: JSON has one number type, and Vault answers ``1`` for a ``1.0`` written).

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
    """A value that cannot take the requested shape. Messages name the field asked for, never contents
    (nor the other fields a secret has: their names can be sensitive too)."""


class MissingProperty(ValueShapeError):
    """The field asked for is not in the secret."""


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
        raise MissingProperty(f"property {prop!r} not found in the secret")
    return fields[prop]


def template_value(value: Any) -> Any:
    """A value as a template reads it: JSON-object text as its map (``value.user``), anything else as is."""
    if isinstance(value, str | bytes):
        parsed = parse_object(value)
        if parsed is not None:
            return parsed
    return value


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
    """Semantic, typed equality: maps as maps, JSON-object text parsed, text and bytes by content."""
    if left is None or right is None:
        return left is right
    return same(_canonical(left), _canonical(right))


def same(left: Any, right: Any) -> bool:
    """Typed equality of two parsed values: Python's ``==`` takes ``True`` for ``1``, a change of type is a
    change here. Numbers compare by value (``1.0`` is ``1``), booleans only with booleans."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same(left[name], right[name]) for name in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same, left, right))
    return type(left) is type(right) and bool(left == right)


def property_changes(before: Value | None, after: Value | None) -> dict[str, list[str]] | None:
    """The fields ``after`` adds, changes and removes compared with ``before`` (names only), or ``None``
    when either side is not a map or JSON-object text."""
    old = {} if before is None else _fields(before)
    new = {} if after is None else _fields(after)
    if old is None or new is None:
        return None
    return {
        "added": sorted(name for name in new if name not in old),
        "changed": sorted(name for name in new if name in old and not same(old[name], new[name])),
        "removed": sorted(name for name in old if name not in new),
    }


def _fields(value: Value) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else parse_object(value)


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
