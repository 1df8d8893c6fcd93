"""AWS's tag rules, for the ``tags`` of a store spec (checked at validate time) and for the tags of a write
(checked before any call). No client needed: the spec models use it.

Sources: at most 50 tags per resource, keys 1-128 and values 0-256 Unicode characters,
letters, numbers, spaces and ``_ . : / = + - @``, the ``aws:`` prefix reserved and not counted
(https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions, and the ``Tag``
types of the Secrets Manager and Systems Manager API references).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

MAX_TAGS = 50
TAG_NAME_LIMIT = 128
TAG_VALUE_LIMIT = 256
RESERVED_PREFIX = "aws:"
MARKER_TAG_PREFIX = "secret-sync:"
"""Tags whose names start with this hold our ownership marker (Secrets Manager and Parameter Store alike)."""
# Tags a marker takes at least: one per marker field (engine.store.MARKER_FIELD_NAMES, which a test keeps
# equal to this); a long field takes more, which the write counts exactly before any call.
MARKER_TAGS_RESERVED = 11
_SYMBOLS = frozenset("_.:/=+-@")


def counted(tags: Mapping[str, str]) -> int:
    """The tags that count towards AWS's limit: ``aws:`` tags do not."""
    return sum(1 for key in tags if not key.lower().startswith(RESERVED_PREFIX))


def _allowed(text: str) -> bool:
    return all(unicodedata.category(char)[0] in "LZN" or char in _SYMBOLS for char in text)


def tag_problem(key: str, value: str) -> str | None:
    """Why AWS refuses tag ``key: value``, or ``None``."""
    if not 1 <= len(key) <= TAG_NAME_LIMIT:
        return f"tag keys have 1 to {TAG_NAME_LIMIT} characters"
    if len(value) > TAG_VALUE_LIMIT:
        return f"tag values have at most {TAG_VALUE_LIMIT} characters"
    if not _allowed(key) or not _allowed(value):
        return "tags hold letters, digits, spaces and _ . : / = + - @ only"
    if key.lower().startswith(RESERVED_PREFIX):
        return f"tag keys starting with {RESERVED_PREFIX!r} are reserved for AWS"
    return None


def store_tags_problem(tags: Mapping[str, str]) -> str | None:
    """Why the ``tags`` a store adds to every secret cannot be written, or ``None``."""
    for key, value in tags.items():
        problem = tag_problem(key, value)
        if problem is None and key.startswith(MARKER_TAG_PREFIX):
            problem = f"tag keys starting with {MARKER_TAG_PREFIX!r} are reserved for the ownership marker"
        if problem is not None:
            return f"tag {key!r}: {problem}"
    if len(tags) + MARKER_TAGS_RESERVED > MAX_TAGS:
        return (
            f"{len(tags)} tags, and the ownership marker takes at least {MARKER_TAGS_RESERVED} more: AWS "
            f"allows {MAX_TAGS} per resource, so at most {MAX_TAGS - MARKER_TAGS_RESERVED} here"
        )
    return None
