"""Key rules: regular-expression rewrites and key templates, applied in order.

A regexp rule replaces every match of ``source`` (RE2 syntax, see :mod:`.patterns`) in the key with
``target``, where ``$1``, ``${1}`` and ``${name}`` refer to groups and ``$$`` is a literal dollar. Its
optional ``property`` (expanded the same way, against the first match) sends the value into that field of
the target key. A key that a rule does not match passes through unchanged. A template rule renders the
new key from ``key``, ``store`` and ``job``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_secret_sync.engine.patterns import compile_pattern
from airflow_secret_sync.engine.templating import TemplateError, render

_REFERENCE = re.compile(r"\$(?:\$|(\d+)|\{(\w+)\})")


class RegexpLike(Protocol):
    source: str
    target: str
    property: str | None


class RuleLike(Protocol):
    @property
    def regexp(self) -> RegexpLike | None: ...
    @property
    def template(self) -> str | None: ...


@dataclass(frozen=True)
class MappedKey:
    key: str
    property: str | None = None


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


def apply_regexp(key: str, rule: RegexpLike) -> MappedKey | None:
    """Rewrite ``key`` with one regexp rule; ``None`` when the rule does not match."""
    pattern = compile_pattern(rule.source)
    first = pattern.search(key)
    if first is None:
        return None
    new_key = pattern.sub(lambda match: expand(rule.target, match), key)
    prop = expand(rule.property, first) if rule.property is not None else None
    return MappedKey(new_key, prop)


def apply_rules(
    key: str, rules: Sequence[RuleLike], *, store: str, job: str, prop: str | None = None
) -> MappedKey:
    """Apply ``rules`` in order to ``key``; the last rule that sets a property wins."""
    current = MappedKey(key, prop)
    for rule in rules:
        if rule.regexp is not None:
            rewritten = apply_regexp(current.key, rule.regexp)
            if rewritten is not None:
                current = MappedKey(rewritten.key, rewritten.property or current.property)
        elif rule.template is not None:
            try:
                rendered = render(rule.template, {"key": current.key, "store": store, "job": job})
            except TemplateError as err:
                raise TemplateError(f"key template {rule.template!r}: {err}") from None
            current = MappedKey(rendered.strip(), current.property)
    return current
