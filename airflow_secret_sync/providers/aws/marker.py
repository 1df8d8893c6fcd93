"""The ownership marker in AWS tags (Secrets Manager and Parameter Store alike).

The marker lives in tags whose keys start with ``secret-sync:``; only those tags are ever added or removed,
so tags set by people or other tools stay. Tag values allow few characters (Parameter Store checks
``[letters digits space _.:/=+-@]``), so marker values are escaped (``=XX`` per UTF-8 byte of any other
character) and split over ``<key>:2``, ``<key>:3``... beyond 256 characters.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping

from airflow_secret_sync.engine.store import Marker
from airflow_secret_sync.providers.aws_secrets_manager.spec import MARKER_TAG_PREFIX, TAG_VALUE_LIMIT
from airflow_secret_sync.providers.base import merge_marker

TAG_PREFIX = MARKER_TAG_PREFIX
_TAG_SAFE = frozenset(string.ascii_letters + string.digits + "_.:/+-@")
_ESCAPED = re.compile(r"(?:=[0-9A-F]{2})+")


def encode_tag_value(text: str) -> list[str]:
    """``text`` escaped to characters every AWS tag accepts, in chunks of at most 256 characters."""
    chunks = [""]
    for char in text:
        token = char if char in _TAG_SAFE else "".join(f"={byte:02X}" for byte in char.encode())
        if len(chunks[-1]) + len(token) > TAG_VALUE_LIMIT:
            chunks.append("")
        chunks[-1] += token
    return chunks


def decode_tag_value(text: str) -> str:
    """The text behind :func:`encode_tag_value`'s escapes (other text passes through unchanged)."""
    return _ESCAPED.sub(lambda match: bytes.fromhex(match[0].replace("=", "")).decode(errors="replace"), text)


def marker_tags(marker: Marker) -> dict[str, str]:
    """The tags that record ``marker``."""
    tags: dict[str, str] = {}
    for name, value in marker.as_fields().items():
        for index, chunk in enumerate(encode_tag_value(value), start=1):
            tags[f"{TAG_PREFIX}{name}" + (f":{index}" if index > 1 else "")] = chunk
    return tags


def marker_from_tags(tags: Mapping[str, str]) -> Marker | None:
    """The marker recorded in ``tags``, or ``None`` when they hold none of ours."""
    parts: dict[str, dict[int, str]] = {}
    for key, value in tags.items():
        if not key.startswith(TAG_PREFIX):
            continue
        name, _, index = key[len(TAG_PREFIX) :].partition(":")
        if index and not index.isdigit():
            continue
        parts.setdefault(name, {})[int(index or 1)] = value
    fields = {
        name: decode_tag_value("".join(chunks[index] for index in sorted(chunks)))
        for name, chunks in parts.items()
    }
    return Marker.from_fields(fields)


def tag_dict(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or ()}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_changes(current: Mapping[str, str], desired: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Tags to set, and our own tags to remove; other tags are never touched."""
    merged = merge_marker(current, desired, lambda key: key.startswith(TAG_PREFIX))
    changed = {key: value for key, value in merged.items() if current.get(key) != value}
    stale = sorted(key for key in current if key not in merged)
    return changed, stale
