"""Render the YAML reference (``docs/reference.md``) from the JSON Schema, so the docs cannot drift.

``python -m airflow_secret_sync.spec.reference > docs/reference.md``; a test checks the file is current.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_secret_sync.spec.models import MAX_TEMPLATE_OUTPUT_BYTES
from airflow_secret_sync.spec.schema import json_schema
from airflow_secret_sync.spec.templating import (
    DEFAULT_ITERATIONS,
    DEFAULT_OUTPUT_BYTES,
    DEFAULT_SECONDS,
    WORK_FACTOR,
)

INTRO = """# YAML reference

Generated from the models by `python -m airflow_secret_sync.spec.reference`; do not edit by hand.
Every object refuses unknown fields, and fields are spelled as here, in camelCase (`maxDeletes`, not
`max_deletes`). `secret-sync schema` prints the same information as JSON Schema.
"""

REGULAR_EXPRESSIONS = """## Regular expressions

Every expression you write (`query.regexp`, `keyTransform[].regexp.source`, the CLI's `--keys` and the
DAG's `keys` trigger parameter) runs on [RE2](https://github.com/google/re2/wiki/Syntax), which matches in
time linear in the key's length: no pattern, however written, can make a run hang. It is searched in the
key (anchor it with `^` and `$` to match the whole key). RE2 supports what key rules need:

- literals, `.`, classes `[a-z]`, `[^/]`, `\\d`, `\\w`, `\\s`, POSIX classes `[[:alpha:]]`, Unicode `\\pL`;
- repetition `*`, `+`, `?`, `{n}`, `{n,m}` (at most 1000), and their lazy forms `*?`, `+?`, `??`;
- groups `(...)`, named groups `(?P<name>...)`, non-capturing `(?:...)`, alternation `|`;
- anchors `^`, `$`, `\\A`, `\\z`, `\\b`; flags `(?i)`, `(?s)`, `(?m)`, `(?U)`.

It has no backreferences (`\\1`, `(?P=name)`), lookahead or lookbehind (`(?=`, `(?!`, `(?<=`, `(?<!`),
possessive quantifiers or atomic groups (`a++`, `(?>...)`), conditionals or `\\Z` (write `\\z`): such an
expression is refused when the configuration is checked, with a message that RE2 syntax is required and
the field path. In a replacement (`target`, `property`), `$1`, `${1}` and `${name}` refer to groups and `$$`
is a literal dollar; backslashes are literal.
"""

_LIMIT_ROWS = [
    (
        "rendered text, in UTF-8 bytes; also any one value built on the way (a string, a list's items)",
        f"{DEFAULT_OUTPUT_BYTES:,}",
        f"`spec.limits.templateOutputBytes`, up to {MAX_TEMPLATE_OUTPUT_BYTES:,}",
    ),
    (
        "loop iterations and `range()` items, all loops of one render together",
        f"{DEFAULT_ITERATIONS:,}",
        "fixed",
    ),
    (
        "text produced on the way (`{{ }}` outputs, also into `{% set %}` blocks and macros)",
        f"{WORK_FACTOR} times the output limit",
        "fixed",
    ),
    ("render time", f"{DEFAULT_SECONDS:g} s", "fixed"),
]
TEMPLATE_LIMITS = "\n".join(
    [
        "## Template limits",
        "",
        "Key and value templates run in Jinja's immutable sandbox, and every render is bounded work:",
        "",
        "| limit | default | where it is set |",
        "|---|---|---|",
        *(f"| {limit} | {default} | {where} |" for limit, default, where in _LIMIT_ROWS),
        "",
        """Operations that make a value larger than their operands are checked before they run: `*`, `+`,
`%`, `**` and `~`, the padding methods and filters (`center`, `ljust`, `indent`, `format` widths...),
`replace`, `join`, `sum`, `slice` and `batch`. So `{{ "x" * 400000000 }}` fails at once, without
allocating anything. A template over a limit fails for its key only, with an error naming the template and
the limit; the other keys go on.
""",
    ]
)


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "enum" in prop:
        return " or ".join(f"`{value}`" for value in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    for combinator in ("anyOf", "oneOf"):
        if combinator in prop:
            kinds = [_type(option) for option in prop[combinator] if option.get("type") != "null"]
            optional = any(option.get("type") == "null" for option in prop[combinator])
            return " or ".join(kinds) + (" or null" if optional else "")
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of {_type(prop['additionalProperties'])}"
    return str(kind)


def _default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return ""
    return f"`{json.dumps(prop['default'])}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_reference() -> str:
    schema = json_schema()
    definitions: dict[str, Any] = schema["$defs"]
    lines = [INTRO]
    documents = ["SecretStore", "SyncJob"]
    order = [*documents, *sorted(name for name in definitions if name not in documents)]
    for name in order:
        definition = definitions[name]
        lines.append(f"## {name}\n")
        if definition.get("description"):
            lines.append(definition["description"].strip() + "\n")
        properties = definition.get("properties", {})
        if not properties:
            if "enum" in definition:
                lines.append("One of " + ", ".join(f"`{value}`" for value in definition["enum"]) + ".\n")
            continue
        required = set(definition.get("required", []))
        lines.append("| field | type | required | default | description |")
        lines.append("|---|---|---|---|---|")
        for field, prop in properties.items():
            lines.append(
                f"| `{field}` | {_cell(_type(prop))} | {'yes' if field in required else ''} | "
                f"{_cell(_default(prop))} | {_cell(prop.get('description', ''))} |"
            )
        lines.append("")
    lines.append(REGULAR_EXPRESSIONS)
    lines.append(TEMPLATE_LIMITS)
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_reference(), end="")
