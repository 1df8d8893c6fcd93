"""Sandboxed Jinja2 used for key templates and value templates.

Configuration is data: templates run in Jinja's immutable sandbox, so they cannot reach Python internals
(``__class__``, ``__globals__``...) or change objects; undefined variables are errors, never empty strings.
"""

from __future__ import annotations

import base64
import json
import re
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

_MISSING_NAME = re.compile(r"has no (?:attribute|element) (.+)$")


def _b64encode(value: str | bytes) -> str:
    data = value.encode() if isinstance(value, str) else value
    return base64.b64encode(data).decode("ascii")


def _b64decode(value: str | bytes) -> str:
    return base64.b64decode(value, validate=True).decode()


def _tojson(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _fromjson(value: str | bytes) -> Any:
    return json.loads(value)


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered. The message never holds a rendered value."""


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    env.filters.update(b64encode=_b64encode, b64decode=_b64decode, tojson=_tojson, fromjson=_fromjson)
    return env


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Any:
    """Compile ``source`` once; raise :class:`TemplateError` for bad syntax."""
    try:
        return environment().from_string(source)
    except TemplateSyntaxError as err:
        raise TemplateError(f"invalid template: {err.message} (line {err.lineno})") from None


def template_variables(source: str) -> set[str]:
    """The undeclared variables a template reads (used to check value templates against their sources)."""
    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as err:
        raise TemplateError(f"invalid template: {err.message} (line {err.lineno})") from None
    # loop and {% set %} variables are declared by the template itself: only the free names count
    return set(meta.find_undeclared_variables(tree)) - set(env.globals)


def internal_names(source: str) -> set[str]:
    """Attribute and item names starting with ``_`` that a template reads (``__class__``, ``_x``...).

    The sandbox refuses them when the template runs; this finds the plain ones when the configuration is
    checked, so such a template is refused before any secret is read.
    """
    from jinja2 import nodes

    try:
        tree = environment().parse(source)
    except TemplateSyntaxError as err:
        raise TemplateError(f"invalid template: {err.message} (line {err.lineno})") from None
    names = {node.attr for node in tree.find_all(nodes.Getattr)}
    names |= {node.arg.value for node in tree.find_all(nodes.Getitem) if isinstance(node.arg, nodes.Const)}
    names |= {
        arg.value
        for node in tree.find_all(nodes.Filter)
        if node.name == "attr"
        for arg in node.args
        if isinstance(arg, nodes.Const)
    }
    return {name for name in names if isinstance(name, str) and name.startswith("_")}


def render(source: str, variables: dict[str, Any]) -> str:
    """Render ``source`` with ``variables``.

    Errors name the problem, never the values: a failing filter such as ``b64decode`` on a secret must not
    echo the secret back into a log line.
    """
    template = compile_template(source)
    try:
        return str(template.render(**variables))
    except TemplateError:
        raise
    except Exception as err:  # the sandbox raises SecurityError, UndefinedError, TypeError, ValueError...
        raise TemplateError(f"template failed: {type(err).__name__}{_safe_detail(err, source)}") from None


def _safe_detail(err: Exception, source: str) -> str:
    """Keep messages that are about the template (undefined names, sandbox refusals), drop the others."""
    from jinja2.exceptions import SecurityError, UndefinedError

    if isinstance(err, UndefinedError):
        # for ``creds[env]`` jinja names the *value* of ``env``: show only names written in the template
        missing = _MISSING_NAME.search(str(err))
        if missing and missing.group(1).strip("'\"") not in source:
            return ": an attribute or item is undefined (its name comes from a value, so it is not shown)"
        return f": {err}"
    if isinstance(err, SecurityError):
        return f": {err}"
    return ""
