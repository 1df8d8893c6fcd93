"""Sandboxed Jinja2 used for key templates and value templates.

Configuration is data: templates run in Jinja's immutable sandbox, so they cannot reach Python internals
(``__class__``, ``__globals__``...) or change objects; undefined variables are errors, never empty strings.

A template is also bounded work (:class:`TemplateLimits`): its output size, the loop iterations and range
lengths of one render, and its render time. Every operation that can make a value much larger than its
operands (``*``, ``+``, ``%``, ``**``, ``~``, padding, ``replace``, ``join``...) is checked *before* it runs,
so ``{{ "x" * 400000000 }}`` fails at once instead of allocating 400 MB; output captured by ``{% set %}``
blocks and macros counts too.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum
from jinja2.visitor import NodeTransformer

_MISSING_NAME = re.compile(r"has no (?:attribute|element) (.+)$")
DEFAULT_OUTPUT_BYTES = 64 * 1024
DEFAULT_ITERATIONS = 100_000
DEFAULT_SECONDS = 2.0
# Output that a render produces on the way (``{% set %}`` blocks, macros, every ``{{ }}``) may be this many
# times the output limit: enough for templates that build a value in pieces, not for doubling it in a loop.
WORK_FACTOR = 8
_LOOP_FILTER = "secret-sync:loop"  # filter names no template can spell: only the compiler inserts them
_CONCAT_FILTER = "secret-sync:concat"
_PRINTF_NUMBERS = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d*)(?:\.(\*|\d*))?")
_FORMAT_SPEC = re.compile(r"\{[^{}]*:([^{}]*)\}")
_NESTED_FORMAT_SPEC = re.compile(r"\{[^{}]*:[^{}]*\{")


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


class _LimitExceeded(TemplateError):
    """A render went over one of its limits; :func:`render` adds which template."""


@dataclass(frozen=True)
class TemplateLimits:
    """What one render may use.

    :param output_bytes: the rendered text, in UTF-8 bytes, and any one value made on the way (a job sets
        it: ``spec.limits.templateOutputBytes``).
    :param iterations: loop iterations and ``range()`` items, all loops of the render together.
    :param seconds: wall-clock time of the render.
    """

    output_bytes: int = DEFAULT_OUTPUT_BYTES
    iterations: int = DEFAULT_ITERATIONS
    seconds: float = DEFAULT_SECONDS


class _Budget:
    """What is left of one render's limits."""

    def __init__(self, limits: TemplateLimits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds
        self.iterations = 0
        self.produced = 0

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise _LimitExceeded(f"render time limit of {self.limits.seconds:g} s exceeded")

    def iterate(self, count: int = 1) -> None:
        self.iterations += count
        if self.iterations > self.limits.iterations:
            raise _LimitExceeded(f"loop iteration limit of {self.limits.iterations} exceeded")
        self.check_time()

    def fits(self, size: int, what: str) -> None:
        """Refuse to make ``what`` when it would be ``size`` characters (or items) long."""
        if size > self.limits.output_bytes:
            raise _LimitExceeded(
                f"{what} would be {size} long, over the output limit of {self.limits.output_bytes} bytes"
            )

    def produce(self, size: int) -> None:
        self.produced += size
        if self.produced > WORK_FACTOR * self.limits.output_bytes:
            raise _LimitExceeded(
                f"the template produced over {WORK_FACTOR} times its output limit of "
                f"{self.limits.output_bytes} bytes on the way (set blocks, macros, loops)"
            )
        self.check_time()


_BUDGET: ContextVar[_Budget | None] = ContextVar("secret_sync_template_budget", default=None)


def _budget() -> _Budget:
    """The budget of the render under way; outside one (constant folding while compiling) the defaults."""
    return _BUDGET.get() or _Budget(TemplateLimits())


def _size(value: Any, cap: int) -> int:
    """About how many characters ``str(value)`` would have, counted up to a little past ``cap``."""
    total = 0
    pending = [value]
    while pending and total <= cap:
        item = pending.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            pending.extend(item)
        else:
            total += 8
    return total


def _items_size(items: Iterable[Any], cap: int) -> int:
    """About how long the items of ``items`` are together, counted up to a little past ``cap``."""
    total = 0
    for item in items:
        total += _size(item, cap - total)
        if total > cap:
            break
    return total


def _check_numbers(budget: _Budget, args: Iterable[Any], what: str) -> None:
    """Refuse a width, count or similar number larger than the output limit."""
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool):
            budget.fits(arg, what)


def _check_printf(budget: _Budget, text: str, args: Any) -> None:
    """``text % args``: widths and precisions in ``text`` or taken from ``args`` (``*``) stay in bounds."""
    numbers = [number for pair in _PRINTF_NUMBERS.findall(text) for number in pair if number]
    _check_numbers(budget, (int(number) for number in numbers if number != "*"), "a formatted field")
    if "*" in numbers:
        _check_numbers(budget, args if isinstance(args, tuple) else (args,), "a formatted field")


def _check_format(budget: _Budget, text: str, args: Iterable[Any]) -> None:
    """``text.format(...)``: the same for ``{:>400000000}`` and widths given as arguments (``{:{}}``)."""
    for spec in _FORMAT_SPEC.findall(text):
        _check_numbers(budget, (int(number) for number in re.findall(r"\d+", spec)), "a formatted field")
    if _NESTED_FORMAT_SPEC.search(text):
        _check_numbers(budget, args, "a formatted field")


def _replaced_size(text: str, old: str, new: str, count: int | None = None) -> int:
    found = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        found = min(found, count)
    return len(text) + found * (len(new) - len(old))


def _joined_size(separator: str, items: list[Any], cap: int) -> int:
    return len(separator) * max(len(items) - 1, 0) + _items_size(items, cap)


def _check_str_method(
    budget: _Budget, text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, ...]:
    """Check a call of ``str.<name>`` before it runs; return the arguments to call it with."""
    what = f"the result of str.{name}()"
    if name in _PADDING_METHODS:
        _check_numbers(budget, (*args, *kwargs.values()), what)
    cap = budget.limits.output_bytes
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = args[2] if len(args) > 2 and isinstance(args[2], int) else None
        budget.fits(_replaced_size(text, args[0], args[1], count), what)
    elif name == "expandtabs":
        tab = args[0] if args else kwargs.get("tabsize", 8)
        budget.fits(len(text) + text.count("\t") * max(int(tab), 0), what)
    elif name == "join" and args:
        items = list(args[0])
        budget.iterate(len(items))
        budget.fits(_joined_size(text, items, cap), what)
        return (items, *args[1:])
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((len(value) for value in args[0].values() if isinstance(value, str)), default=1)
        budget.fits(len(text) * longest, what)
    return args


def _limited_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a filter) with its arguments checked before it runs and its result after."""
    leading = 1 if hasattr(function, "jinja_pass_arg") else 0  # the environment, eval or template context
    what = f"the result of the {name!r} filter"

    @functools.wraps(function)  # keeps jinja_pass_arg, so Jinja passes the same leading argument
    def limited(*args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.check_time()
        cap = budget.limits.output_bytes
        value = args[leading] if len(args) > leading else None
        extra = args[leading + 1 :]
        if name in _SIZE_ARGUMENTS:
            _check_numbers(budget, (*extra, *kwargs.values()), what)
        if name in _SERIALISING:
            budget.fits(_size(value, cap), what)
        if name == "replace" and isinstance(value, str) and len(extra) >= 2:
            count = extra[2] if len(extra) > 2 else kwargs.get("count")
            budget.fits(_replaced_size(value, str(extra[0]), str(extra[1]), count), what)
        elif name == "join" and value is not None:
            items = list(value)
            budget.iterate(len(items))
            separator = str(extra[0] if extra else kwargs.get("d", ""))
            budget.fits(_joined_size(separator, items, cap), what)
            args = (*args[:leading], items, *extra)
        elif name == "indent" and isinstance(value, str):
            width = extra[0] if extra else kwargs.get("width", 4)
            pad = len(width) if isinstance(width, str) else int(width)
            budget.fits(len(value) + (value.count("\n") + 1) * pad, what)
        elif name == "wordwrap" and isinstance(value, str):
            wrap = extra[2] if len(extra) > 2 else kwargs.get("wrapstring")
            budget.fits(len(value) * (1 + len(wrap or "\n")), what)
        elif name == "format" and isinstance(value, str):
            _check_printf(budget, value, tuple(extra) + tuple(kwargs.values()))
        elif name == "sum":
            start = extra[1] if len(extra) > 1 else kwargs.get("start")
            if isinstance(start, list | tuple):
                items = list(value or ())
                budget.fits(
                    len(start) + sum(len(item) for item in items if isinstance(item, list | tuple)), what
                )
                args = (*args[:leading], items, *extra)
        result = function(*args, **kwargs)
        if isinstance(result, str | bytes | list | tuple | dict):
            budget.fits(_size(result, cap), what)
        return result

    return limited


# str methods and filters whose numbers are sizes (widths, counts) of what they make
_PADDING_METHODS = frozenset({"ljust", "rjust", "center", "zfill", "expandtabs"})
_SIZE_ARGUMENTS = frozenset({"center", "indent", "wordwrap", "truncate", "batch", "slice"})
# filters whose output grows with the whole (nested) size of their input
_SERIALISING = frozenset(
    {"tojson", "string", "pprint", "xmlattr", "urlencode", "escape", "e", "forceescape", "b64encode", "list"}
)


def _loop(items: Iterable[Any], body_chars: int) -> Iterator[Any]:
    """A ``{% for %}`` loop's iterable, charged to the render: each iteration, and its body's own text."""
    budget = _budget()
    for item in items:
        budget.iterate()
        budget.produce(body_chars)
        yield item


def _concat(items: list[Any]) -> str:
    """``a ~ b``: the joined text checked before it is made."""
    budget = _budget()
    budget.fits(_items_size(items, budget.limits.output_bytes), "a ~ concatenation")
    return "".join(str(item) for item in items)


def _range(*args: int) -> range:
    numbers = range(*args)
    budget = _budget()
    if len(numbers) > budget.limits.iterations:
        raise _LimitExceeded(
            f"range of {len(numbers)} items is over the iteration limit of {budget.limits.iterations}"
        )
    return numbers


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # Jinja's parameter names
    _budget().fits(n * max * 12, "lipsum()")
    return str(generate_lorem_ipsum(n, html, min, max))


def _finalize(value: Any) -> Any:
    """Every ``{{ }}`` output, also into set blocks and macros, counted before it becomes text."""
    budget = _budget()
    size = _size(value, budget.limits.output_bytes)
    budget.fits(size, "an output expression")
    budget.produce(size)
    return value


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with the operators that make values grow checked against the render's limits."""

    intercepted_binops = frozenset({"*", "+", "%", "**"})  # intercepted ones are never folded when compiling

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = _budget()
        budget.check_time()
        what = f"the result of {operator!r}"
        sized = (str, bytes, list, tuple)
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, sized) and isinstance(times, int):
                    budget.fits(len(sequence) * max(times, 0), what)
        elif operator == "+" and isinstance(left, sized) and isinstance(right, sized):
            budget.fits(len(left) + len(right), what)
        elif operator == "%" and isinstance(left, str):
            _check_printf(budget, left, right)
        elif (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right > 0
        ):
            budget.fits(math.ceil(right * math.log10(abs(left))), what)
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str | bytes):
            budget.fits(len(result), what)
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.check_time()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and not isinstance(__obj, functools.partial):
            args = _check_str_method(budget, owner, __obj.__name__, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str | bytes | list | tuple | dict):
            budget.fits(_size(result, budget.limits.output_bytes), "the result of a call")
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            budget = _budget()
            _check_format(budget, text, (*args, *kwargs.values()))
            result = wrapped(*args, **kwargs)
            budget.fits(len(result), "the result of str.format()")
            return result

        return checked


class _BoundLoops(NodeTransformer):
    """Route every loop's iterable through :func:`_loop` and every ``~`` through :func:`_concat`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        body_chars = sum(len(data.data) for data in _own_text(node.body))
        node.iter = nodes.Filter(
            node.iter, _LOOP_FILTER, [nodes.Const(body_chars)], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno)


def _own_text(body: list[nodes.Node]) -> Iterator[nodes.TemplateData]:
    """The constant text of a loop body, without that of loops inside it (they charge their own)."""
    pending = list(body)
    while pending:
        node = pending.pop()
        if isinstance(node, nodes.TemplateData):
            yield node
        elif not isinstance(node, nodes.For):
            pending.extend(node.iter_child_nodes())


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize
    )
    env.filters.update(b64encode=_b64encode, b64decode=_b64decode, tojson=_tojson, fromjson=_fromjson)
    env.filters = {name: _limited_filter(name, function) for name, function in env.filters.items()}
    env.filters[_LOOP_FILTER] = _loop
    env.filters[_CONCAT_FILTER] = _concat
    env.globals.update(range=_range, lipsum=_lipsum)
    return env


@lru_cache(maxsize=4096)
def compile_template(source: str) -> Any:
    """Compile ``source`` once; raise :class:`TemplateError` for bad syntax."""
    env = environment()
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as err:
        raise TemplateError(f"invalid template: {err.message} (line {err.lineno})") from None
    bounded = _BoundLoops().visit(tree)
    bounded.set_environment(env)
    return env.from_string(bounded)


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


def render(source: str, variables: dict[str, Any], *, limits: TemplateLimits | None = None) -> str:
    """Render ``source`` with ``variables`` within ``limits`` (the defaults when ``None``).

    Errors name the problem, never the values: a failing filter such as ``b64decode`` on a secret must not
    echo the secret back into a log line; the caller names the template. A limit that is hit is named.
    """
    template = compile_template(source)
    budget = _Budget(limits or TemplateLimits())
    token = _BUDGET.set(budget)
    try:
        chunks = []
        length = 0
        for chunk in template.generate(**variables):
            length += len(chunk)
            budget.fits(length, "the rendered text")
            chunks.append(chunk)
        text = "".join(chunks)
        budget.fits(len(text.encode()), "the rendered text (UTF-8)")
        return text
    except _LimitExceeded as err:
        raise TemplateError(f"template stopped: {err}") from None
    except TemplateError:
        raise
    except Exception as err:  # the sandbox raises SecurityError, UndefinedError, TypeError, ValueError...
        raise TemplateError(f"template failed: {type(err).__name__}{_safe_detail(err, source)}") from None
    finally:
        _BUDGET.reset(token)


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
