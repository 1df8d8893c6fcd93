"""Key rules: regular-expression rewrites and key templates, applied in order.

A regexp rule replaces every match of ``source`` (RE2 syntax, see
:mod:`airflow_secret_sync.spec.patterns`) in the key with ``target``, where ``$1``, ``${1}`` and ``${name}``
refer to groups and ``$$`` is a literal dollar. Its optional ``property`` (expanded the same way, against
the first match) sends the value into that field of the target key. A key that a rule does not match passes
through unchanged. A template rule renders the new key from ``key``, ``store`` and ``job``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from airflow_secret_sync.spec.patterns import compile_pattern, expand
from airflow_secret_sync.spec.templating import TemplateError, render


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
