"""Go template -> Jinja: what translates renders as Go would; everything else is refused by name."""

from __future__ import annotations

import pytest

from airflow_secret_sync.importers.gotemplate import Dialect, Untranslatable, to_jinja, translate
from airflow_secret_sync.spec.templating import render


def names(chain: tuple[str, ...]) -> str:
    return "v_" + "_".join(chain) if chain else "whole"


def jinja(template: str, dialect: Dialect | None = None) -> str:
    parts = translate(template, names) if dialect is None else translate(template, names, dialect)
    return to_jinja(parts)


@pytest.mark.parametrize(
    ("go", "variables", "expected"),
    [
        ("{{ .Data }}", {"whole": "x"}, "x"),
        ("user={{ .Data.db.user }}!", {"v_db_user": "u"}, "user=u!"),
        ("{{ .Data | base64enc }}", {"whole": "hi"}, "aGk="),
        ("{{ base64enc .Data }}", {"whole": "hi"}, "aGk="),
        ("{{ .Data | base64enc | base64dec }}", {"whole": "hi"}, "hi"),
        ("a  {{- .Data -}}  b", {"whole": "x"}, "axb"),
        ("a\n{{- .Data }}\n", {"whole": "x"}, "ax\n"),
        ("a{{/* note */}}b", {}, "ab"),
        ("a{{- /* note */ -}} b", {}, "ab"),
        ('{{ "lit|eral" }}', {}, "lit|eral"),
        ("{{ `raw` }}", {}, "raw"),
        # literal text holding Jinja syntax stays literal
        ("{% raw %}{# x #}", {}, "{% raw %}{# x #}"),
    ],
)
def test_translated_templates_render_as_go_does(go: str, variables: dict[str, str], expected: str) -> None:
    assert render(jinja(go), variables) == expected


@pytest.mark.parametrize(
    ("go", "named"),
    [
        ("{{ if .Data }}x{{ end }}", "'if'"),
        ("{{ range .Data }}{{ . }}{{ end }}", "'range'"),
        ('{{ printf "%s" .Data }}', "function 'printf'"),
        ("{{ .Data | upper }}", "function 'upper'"),
        ("{{ $x := .Data }}", "template variables"),
        ("{{ base64dec (.Data) }}", "parentheses"),
        ("{{ .Other }}", "only fields below .Data"),
        ("{{ .Data", "unclosed"),
        ("{{ base64enc .Data .Data }}", "takes one argument"),
    ],
)
def test_constructs_without_a_safe_equivalent_are_named(go: str, named: str) -> None:
    with pytest.raises(Untranslatable, match=named.replace("(", r"\(").replace("$", r"\$")):
        jinja(go)


def test_external_secrets_dialect_reads_data_keys_from_the_top() -> None:
    eso = Dialect(root=None, functions={"upper": "upper"})
    assert render(jinja("{{ .password | upper }}", eso), {"v_password": "abc"}) == "ABC"
