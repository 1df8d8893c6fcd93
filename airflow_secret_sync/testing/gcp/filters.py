"""The part of Secret Manager's list filter language that the provider uses.

``expr := term (AND term)*``, ``term := restriction (OR restriction)*`` (as in AIP-160, OR binds tighter),
``restriction := field (":" | "=") value`` with an optional double-quoted value. Fields: ``name`` (``:`` is a
substring match, ``=`` the whole id), ``labels.KEY`` and, for versions, ``state``. Anything else is refused
with INVALID_ARGUMENT, so a filter the emulator would misread never passes silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from airflow_secret_sync.testing.gcp.errors import ApiError, invalid

Predicate = Callable[[Any], bool]
# A filterable field of an item: its text (``name``, ``state``) or a map (``labels``).
FieldGetter = Callable[[Any], "str | Mapping[str, str]"]

_TOKEN = re.compile(
    r"\s*(?:(?P<word>AND|OR)(?=[\s(])|(?P<restriction>[A-Za-z_.]+)\s*(?P<op>[:=])\s*"
    r'(?:"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"()]+)))'
)


def compile_filter(text: str, fields: Mapping[str, FieldGetter]) -> Predicate | None:
    """A predicate for ``text``, or ``None`` for an empty filter."""
    if not text.strip():
        return None
    terms: list[list[Predicate]] = [[]]
    position, expect_restriction = 0, True
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _error(text, f"unsupported syntax at position {position}")
        position = match.end()
        if match.group("word"):
            if expect_restriction:
                raise _error(text, f"unexpected {match.group('word')}")
            if match.group("word") == "AND":
                terms.append([])
            expect_restriction = True
            continue
        if not expect_restriction and terms[-1]:
            terms.append([])  # juxtaposition means AND
        value = match.group("quoted")
        value = re.sub(r"\\(.)", r"\1", value) if value is not None else match.group("bare")
        terms[-1].append(_restriction(text, match.group("restriction"), match.group("op"), value, fields))
        expect_restriction = False
    if expect_restriction:
        raise _error(text, "a restriction is missing")
    return lambda item: all(any(check(item) for check in term) for term in terms)


def _restriction(text: str, field: str, op: str, value: str, fields: Mapping[str, FieldGetter]) -> Predicate:
    if "*" in value:
        raise _error(text, "wildcards are not supported by the emulator")
    head, _, key = field.partition(".")
    getter = fields.get(head)
    if getter is None or (head == "labels") != bool(key):
        raise _error(text, f"unsupported field [{field}]")
    if head == "labels":
        return lambda item: _labels(getter, item).get(key) == value
    if head == "state":
        return lambda item: getter(item) == value.upper()
    if op == "=":
        return lambda item: str(getter(item)).rsplit("/", 1)[-1] == value
    return lambda item: value in str(getter(item))


def _labels(getter: FieldGetter, item: Any) -> Mapping[str, str]:
    found = getter(item)
    return found if isinstance(found, Mapping) else {}


def _error(text: str, detail: str) -> ApiError:
    return invalid(f"Invalid filter [{text}]: {detail}.")
