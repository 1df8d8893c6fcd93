"""Sandboxed templates: no Python internals, undefined names fail, filters work, errors hold no values."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_secret_sync.engine.templating import TemplateError, compile_template, render, template_variables

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
