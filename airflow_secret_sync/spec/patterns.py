"""User-written regular expressions (queries, key rules, keys filters), run on RE2 in linear time.

A configuration is input, and a pattern such as ``^(a+)+$`` makes Python's backtracking ``re`` take
exponential time on a long key. RE2 never backtracks: a match costs time linear in the key's length. The
price is its syntax: no backreferences, lookaround, possessive quantifiers or conditionals, which are
refused when the configuration is checked (docs/reference.md lists what is supported).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import re2

RE2_SYNTAX = "RE2 syntax is required (no backreferences, lookaround, possessive quantifiers or conditionals)"


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr; the error says it once
    return options


_OPTIONS = _options()


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Any:
    """``pattern`` compiled by RE2; a ``ValueError`` says why it is refused.

    The compiled object offers ``search``, ``sub``, ``groups`` and ``groupindex`` as ``re`` does.
    """
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as err:
        detail = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        raise ValueError(f"invalid regular expression {pattern!r}: {detail}{_hint(pattern)}") from None


def _hint(pattern: str) -> str:
    """Say that RE2 syntax is needed when the pattern is one Python would accept."""
    try:
        re.compile(pattern)
    except re.error:
        return ""
    return f"; {RE2_SYNTAX}"


_REFERENCE = re.compile(r"\$(?:\$|(\d+)|\{(\w+)\})")


def expand(replacement: str, match: Any) -> str:
    """Expand ``$1`` / ``${1}`` / ``${name}`` / ``$$`` in ``replacement`` from ``match`` (an RE2 match).

    A group that did not take part in the match expands to an empty string; a group that does not exist
    in the expression is an error naming it.
    """

    def one(reference: re.Match[str]) -> str:
        if reference.group(0) == "$$":
            return "$"
        name = reference.group(1) or reference.group(2)
        group: int | str = int(name) if name.isdigit() else name
        try:
            return match.group(group) or ""
        except IndexError:
            raise ValueError(
                f"replacement refers to group {name!r}, which the expression does not define"
            ) from None

    return _REFERENCE.sub(one, replacement)


def undefined_groups(expression: str, replacement: str) -> list[str]:
    """The groups ``replacement`` refers to (``$1``, ``${1}``, ``${name}``) that ``expression`` lacks."""
    pattern = compile_pattern(expression)
    missing = []
    for reference in _REFERENCE.finditer(replacement):
        name = reference.group(1) or reference.group(2)
        if name is None:  # $$
            continue
        known = int(name) <= pattern.groups if name.isdigit() else name in pattern.groupindex
        if not known:
            missing.append(name)
    return missing
