"""Translate the small, safe subset of Go ``text/template`` that secret templates use into sandboxed Jinja.

What translates: literal text, field chains such as ``{{ .Data.db.user }}`` (below a root field, or from
the top for External Secrets' ``{{ .password }}``), string literals, a few one-argument functions called
directly or in a pipeline (each tool's own names, mapped to our Jinja filters), trim markers (``{{-`` /
``-}}``) and comments. Everything else (``if``, ``range``, ``with``, variables, other functions,
parentheses...) raises :class:`Untranslatable` naming the construct: the caller leaves the item out
rather than guess what it meant.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

# function name -> our Jinja filter of the same meaning
BANK_VAULTS_FUNCTIONS = {"base64enc": "b64encode", "base64dec": "b64decode"}
GO_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil"}
)
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_COMMENT = re.compile(r"^\s*/\*.*\*/\s*$", re.DOTALL)
_FIELD_CHAIN = re.compile(r"^\.([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_GO_SPACE = " \t\r\n"
_JINJA_DELIMITERS = ("{{", "{%", "{#", "}}", "%}", "#}")


class Untranslatable(ValueError):
    """A Go template construct with no safe Jinja equivalent; the message names the construct."""


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Expr:
    """A Jinja expression (already translated) whose value is printed."""

    source: str


Part = Text | Expr
# Resolves a field chain below ``.Data`` (``()`` for ``.Data`` itself) to a Jinja variable name.
Resolver = Callable[[tuple[str, ...]], str]


@dataclass(frozen=True)
class Dialect:
    """What a tool's templates may use: the root field of the data (``None``: the data is the root) and the
    one-argument functions that translate."""

    root: str | None
    functions: dict[str, str]


BANK_VAULTS = Dialect(root="Data", functions=BANK_VAULTS_FUNCTIONS)


def translate(template: str, resolve: Resolver, dialect: Dialect = BANK_VAULTS) -> list[Part]:
    """The parts of ``template``: literal text and translated expressions, trim markers applied."""
    parts: list[Part] = []
    position = 0
    trim_next = False
    for action in _ACTION.finditer(template):
        text = template[position : action.start()]
        if trim_next:
            text = text.lstrip(_GO_SPACE)
        if action.group(1):
            text = text.rstrip(_GO_SPACE)
        if text:
            parts.append(Text(text))
        trim_next = bool(action.group(3))
        position = action.end()
        body = action.group(2)
        if _COMMENT.match(body):
            continue
        parts.append(Expr(_pipeline(body.strip(), resolve, dialect)))
    rest = template[position:]
    if trim_next:
        rest = rest.lstrip(_GO_SPACE)
    if "{{" in rest:
        raise Untranslatable("an unclosed '{{' action")
    if rest:
        parts.append(Text(rest))
    return parts


def to_jinja(parts: Sequence[Part]) -> str:
    """A Jinja template printing ``parts``; literal text holding Jinja delimiters is printed as a string."""
    out = []
    for part in parts:
        if isinstance(part, Expr):
            out.append("{{ " + part.source + " }}")
        elif any(mark in part.text for mark in _JINJA_DELIMITERS):
            out.append("{{ " + string_literal(part.text) + " }}")
        else:
            out.append(part.text)
    return "".join(out)


def to_expression(parts: Sequence[Part]) -> str:
    """One Jinja expression whose value is the text ``parts`` render (for building JSON)."""
    if not parts:
        return '""'
    if len(parts) == 1 and isinstance(parts[0], Expr):
        return parts[0].source
    pieces = [
        string_literal(part.text) if isinstance(part, Text) else f"({part.source} | string)" for part in parts
    ]
    return pieces[0] if len(pieces) == 1 else "(" + " ~ ".join(pieces) + ")"


def string_literal(text: str) -> str:
    """``text`` as a Jinja string literal (JSON's escapes are also Jinja's)."""
    return json.dumps(text, ensure_ascii=True)


def _pipeline(body: str, resolve: Resolver, dialect: Dialect) -> str:
    if not body:
        raise Untranslatable("an empty action '{{ }}'")
    commands = [command.strip() for command in _split_outside_quotes(body, "|")]
    expression: str | None = None
    for command in commands:
        words = _words(command, body)
        if not words:
            raise Untranslatable(f"an empty pipeline stage in '{{{{ {body} }}}}'")
        for word in words:
            if word.startswith(('"', "`")):
                continue
            if word.startswith("$") or word in (":=", "="):
                raise Untranslatable(f"template variables in '{{{{ {body} }}}}'")
            if "(" in word or ")" in word:
                raise Untranslatable(f"parentheses in '{{{{ {body} }}}}'")
        head, args = words[0], words[1:]
        if head in GO_KEYWORDS:
            raise Untranslatable(f"'{head}' (control structures have no safe equivalent here)")
        if head in dialect.functions:
            if expression is not None:
                operands = [expression, *(_operand(arg, resolve, body, dialect) for arg in args)]
            else:
                operands = [_operand(arg, resolve, body, dialect) for arg in args]
            if len(operands) != 1:
                raise Untranslatable(f"'{head}' takes one argument in '{{{{ {body} }}}}'")
            expression = f"({operands[0]} | {dialect.functions[head]})"
            continue
        if expression is not None or args:
            if head.startswith((".", '"', "`")):
                raise Untranslatable(f"'{command}' cannot take arguments in '{{{{ {body} }}}}'")
            raise Untranslatable(f"function '{head}' ({_known(dialect)})")
        expression = _operand(head, resolve, body, dialect)
    assert expression is not None
    return expression


def _operand(word: str, resolve: Resolver, body: str, dialect: Dialect) -> str:
    if word == ".":
        if dialect.root is None:
            return resolve(())
        raise Untranslatable(f"'.' (the whole template context) in '{{{{ {body} }}}}'")
    if word.startswith('"') or word.startswith("`"):
        return string_literal(_go_string(word))
    chain = _FIELD_CHAIN.match(word)
    if chain is None:
        raise Untranslatable(f"function or operand '{word}' ({_known(dialect)})")
    names = (chain.group(1), *(name for name in chain.group(2).split(".") if name))
    if dialect.root is None:
        return resolve(names)
    if names[0] != dialect.root:
        raise Untranslatable(f"'{word}': only fields below .{dialect.root} exist")
    return resolve(names[1:])


def _known(dialect: Dialect) -> str:
    return "only " + ", ".join(sorted(dialect.functions)) + " translate"


def _go_string(word: str) -> str:
    if word.startswith("`"):
        if len(word) < 2 or not word.endswith("`"):
            raise Untranslatable(f"an unterminated raw string {word}")
        return word[1:-1]
    try:
        value = json.loads(word)
    except ValueError:
        raise Untranslatable(f"a Go string literal JSON cannot read: {word}") from None
    if not isinstance(value, str):
        raise Untranslatable(f"not a string literal: {word}")
    return value


def _words(command: str, body: str) -> list[str]:
    words: list[str] = []
    current = ""
    quote: str | None = None
    escaped = False
    for char in command:
        if quote:
            current += char
            if quote == '"' and char == "\\" and not escaped:
                escaped = True
                continue
            if char == quote and not escaped:
                quote = None
            escaped = False
        elif char in '"`':
            quote = char
            current += char
        elif char in _GO_SPACE:
            if current:
                words.append(current)
            current = ""
        else:
            current += char
    if quote:
        raise Untranslatable(f"an unterminated string in '{{{{ {body} }}}}'")
    if current:
        words.append(current)
    return words


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    pieces: list[str] = []
    current = ""
    quote: str | None = None
    escaped = False
    for char in text:
        if quote:
            if quote == '"' and char == "\\" and not escaped:
                escaped = True
                current += char
                continue
            if char == quote and not escaped:
                quote = None
            escaped = False
            current += char
        elif char in '"`':
            quote = char
            current += char
        elif char == separator:
            pieces.append(current)
            current = ""
        else:
            current += char
    pieces.append(current)
    return pieces
