"""Sandboxed templates: no Python internals, undefined names fail, filters work, errors hold no values."""

from __future__ import annotations

import base64
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_secret_sync.spec.templating import (
    TemplateError,
    TemplateLimits,
    compile_template,
    render,
    template_variables,
)

SECRET = "s3cr3t-Value-0042"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ secret.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ '{0.__class__}'.format(secret) }}",
        "{{ creds.update({'password': 'x'}) }}",  # the immutable sandbox refuses changing objects
        "{{ items.append(1) }}",
        "{{ creds.__setitem__('a', 1) }}",
    ],
)
def test_the_sandbox_refuses_python_internals_and_mutation(source: str) -> None:
    variables = {"secret": SECRET, "creds": {"user": "u"}, "items": []}
    with pytest.raises(TemplateError, match="SecurityError") as err:
        render(source, variables)
    assert SECRET not in str(err.value)
    assert variables == {"secret": SECRET, "creds": {"user": "u"}, "items": []}


def test_undefined_variables_are_errors_not_empty_strings() -> None:
    with pytest.raises(TemplateError, match="'pasword' is undefined"):
        render("postgresql://{{ user }}:{{ pasword }}@db", {"user": "app"})


def test_undefined_fields_are_errors_naming_the_field() -> None:
    with pytest.raises(TemplateError, match="has no attribute 'pasword'"):
        render("{{ creds.pasword }}", {"creds": {"password": SECRET}})


def test_a_missing_field_looked_up_by_a_value_does_not_echo_the_value() -> None:
    with pytest.raises(TemplateError) as err:
        render("{{ creds[environment] }}", {"creds": {"prod": "x"}, "environment": SECRET})
    assert SECRET not in str(err.value)
    assert "undefined" in str(err.value)


@pytest.mark.parametrize(
    ("source", "variables"),
    [
        ("{{ secret | b64decode }}", {"secret": SECRET + "!!"}),
        ("{{ secret | fromjson }}", {"secret": SECRET}),
        ("{{ secret + 1 }}", {"secret": SECRET}),
        ("{{ secret | int / 0 }}", {"secret": "1234567"}),
        ("{{ secret[index] }}", {"secret": "ab", "index": 1234567}),
        ("{{ creds | fromjson }}", {"creds": '{"password": "' + SECRET + '", }'}),
    ],
)
def test_error_messages_never_contain_the_values(source: str, variables: dict[str, Any]) -> None:
    with pytest.raises(TemplateError) as err:
        render(source, variables)
    message = str(err.value)
    assert message.startswith("template failed: ")
    for value in variables.values():
        assert str(value) not in message


def test_syntax_errors_name_the_line() -> None:
    with pytest.raises(TemplateError, match=r"invalid template: .*\(line 2\)"):
        compile_template("ok\n{{ key ")


def test_b64_filters() -> None:
    assert (
        render("{{ v | b64encode }}", {"v": "hello wörld"})
        == base64.b64encode("hello wörld".encode()).decode()
    )
    assert render("{{ v | b64encode }}", {"v": b"\x00\xff"}) == "AP8="
    assert render("{{ v | b64decode }}", {"v": "aGVsbG8="}) == "hello"


def test_json_filters() -> None:
    assert render("{{ v | tojson }}", {"v": {"b": 1, "a": "é"}}) == '{"a": "é", "b": 1}'
    assert render("{{ (v | fromjson).password }}", {"v": '{"password": "p"}'}) == "p"


@given(st.text())
def test_b64_round_trip(text: str) -> None:
    assert render("{{ v | b64encode | b64decode }}", {"v": text}) == text


@given(st.dictionaries(st.text(), st.text() | st.integers(), max_size=4))
def test_json_round_trip(value: dict[str, Any]) -> None:
    assert render("{{ (v | tojson | fromjson) == v }}", {"v": value}) == "True"


def test_output_is_not_html_escaped_and_keeps_a_trailing_newline() -> None:
    assert render("{{ v }}\n", {"v": "<a&b>'\""}) == "<a&b>'\"\n"


def test_template_variables_lists_the_names_a_template_reads() -> None:
    assert template_variables("{{ user }}:{{ pass | b64encode }}{% for x in items %}{{ x }}{% endfor %}") == {
        "user",
        "pass",
        "items",
    }
    assert template_variables("{% set a = 1 %}{{ a }}{{ range(3) | list }}") == set()


# ------------------------------------------------------------------------------------------ limits

HOSTILE = {
    "repeat": ('{{ "x" * 400000000 }}', "the result of '*' would be 400000000 long"),
    "nested ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "loop iteration limit of 100000 exceeded",
    ),
    "nested string loops": (
        '{% for c in "y" * 60000 %}{% for d in "y" * 60000 %}{% endfor %}{% endfor %}',
        "loop iteration limit of 100000 exceeded",
    ),
    "padding filter": ('{{ "x" | center(400000000) }}', "the 'center' filter would be 400000000 long"),
    "padding method": ('{{ "x".ljust(400000000) }}', "str.ljust() would be 400000000 long"),
    "printf width": ('{{ "%0400000000d" % 1 }}', "a formatted field would be 400000000 long"),
    "format width": ('{{ "{:>400000000}".format("x") }}', "a formatted field would be 400000000 long"),
    "replace": ('{{ ("a" * 60000).replace("", "b" * 60000) }}', "str.replace() would be 3600120000 long"),
    "join": ('{{ (["y" * 60000] * 60000) | join }}', "the 'join' filter would be"),
    "power": ("{{ 2 ** 10000000 }}", "the result of '**' would be 3010300 long"),
    "doubling with ~": (
        '{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
        "a ~ concatenation would be 131072 long",
    ),
    "doubling in a set block": (
        '{% set ns = namespace(s="x") %}{% for i in range(40) %}{% set ns.s %}{{ ns.s }}{{ ns.s }}'
        "{% endset %}{% endfor %}",
        "an output expression would be 131072 long",
    ),
    "doubling through a macro": (
        '{% macro twice(s) %}{{ s }}{{ s }}{% endmacro %}{% set ns = namespace(s="x") %}'
        "{% for i in range(40) %}{% set ns.s = twice(ns.s) %}{% endfor %}",
        "the result of a call would be 131072 long",
    ),
    "text in a captured loop": (
        "{% set big %}{% for i in range(100000) %}" + "x" * 1000 + "{% endfor %}{% endset %}",
        "produced over 8 times its output limit of 65536 bytes",
    ),
    "long output": ('{% for i in range(20) %}{{ "y" * 60000 }}{% endfor %}', "the rendered text would be"),
}


@pytest.mark.timeout(60)  # a guard only: each case must end in well under a second
@pytest.mark.parametrize(("source", "reason"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_templates_end_with_an_error_naming_the_limit(source: str, reason: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError) as err:
            render(source, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(err.value).startswith("template stopped: ")
    assert reason in str(err.value)
    assert peak < 20_000_000, "the huge value was built"


def test_a_hostile_constant_is_never_built_while_compiling() -> None:
    tracemalloc.start()
    try:
        compile_template('{{ "x" * 400000000 }}{{ "y" | center(400000000) }}')  # what validate does
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000


def test_a_render_that_runs_too_long_is_stopped() -> None:
    slow = '{% for i in range(99999) %}{% if ("y" * 60000) in ("z" * 60000) %}{% endif %}{% endfor %}'
    with pytest.raises(TemplateError, match=r"stopped: render time limit of 0\.2 s exceeded"):
        render(slow, {}, limits=TemplateLimits(seconds=0.2))


def test_the_output_limit_is_the_jobs_to_raise() -> None:
    source = '{{ value }}{{ "-" * 70000 }}'
    with pytest.raises(TemplateError, match="over the output limit of 65536 bytes"):
        render(source, {"value": "v"})
    assert len(render(source, {"value": "v"}, limits=TemplateLimits(output_bytes=100_000))) == 70_001
    with pytest.raises(TemplateError, match=r"the rendered text \(UTF-8\) would be 70002 long"):
        render("é" * 35_001, {}, limits=TemplateLimits(output_bytes=70_000))  # bytes, not characters


def test_ordinary_templates_are_not_limited() -> None:
    source = (
        '{"user": "{{ creds.user }}", "port": {{ "%d" % 1000000 }}, "hosts": {{ hosts | tojson }}, '
        '"pad": "{{ "{:>5}".format(creds.user) }}"}\n'
        "{% for name, value in creds | dictsort %}{{ name }}={{ value | b64encode }};{% endfor %}"
        "{{ range(3) | join(',') }} {{ 'a' ~ 1 }} {{ lipsum(1, html=False) | length > 0 }}"
    )
    creds = {"user": "app", "password": SECRET}
    assert render(source, {"creds": creds, "hosts": ["a", "b"]}) == (
        '{"user": "app", "port": 1000000, "hosts": ["a", "b"], "pad": "  app"}\n'
        f"password={base64.b64encode(SECRET.encode()).decode()};user=YXBw;0,1,2 a1 True"
    )
