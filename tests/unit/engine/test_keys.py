"""Key rules: regexp rewrites with $1 / ${1} / ${name} / $$, properties, templates, and rule order."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from airflow_secret_sync.engine.keys import MappedKey, apply_regexp, apply_rules
from airflow_secret_sync.spec.models import KeyRule, RegexpRule
from airflow_secret_sync.spec.templating import TemplateError


def regexp(source: str, target: str, prop: str | None = None) -> KeyRule:
    return KeyRule(regexp=RegexpRule(source=source, target=target, property=prop))


def template(text: str) -> KeyRule:
    return KeyRule(template=text)


def rewrite(key: str, *rules: KeyRule, prop: str | None = None) -> MappedKey:
    return apply_rules(key, rules, store="dst", job="job-1", prop=prop)


SEED_RULE = regexp(r"^game-(.+)\.(.+)$", "my/path/$1", "prop-$2")

keys = st.text(alphabet=string.ascii_letters + string.digits + "/-_.@", min_size=1, max_size=40)


# --------------------------------------------------------------------------------------------- regexp


def test_seed_example_game_keys_become_fields_of_one_target() -> None:
    assert rewrite("game-abc.def", SEED_RULE) == MappedKey("my/path/abc", "prop-def")
    assert rewrite("game-abc.xyz", SEED_RULE) == MappedKey("my/path/abc", "prop-xyz")


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("$1/$2", "abc/def"),
        ("${1}/${2}", "abc/def"),
        ("${1}0", "abc0"),  # braces end the group number
        ("${app}-${env}", "abc-def"),
        ("price$$", "price$"),
        ("$$1", "$1"),  # an escaped dollar is never a reference
        ("$$$1", "$abc"),
        ("\\1-$1", "\\1-abc"),  # backslashes are literal, unlike re.sub
    ],
)
def test_replacement_references(target: str, expected: str) -> None:
    rule = regexp(r"^(?P<app>[a-z]+)\.(?P<env>[a-z]+)$", target)
    assert rewrite("abc.def", rule).key == expected


def test_an_optional_group_that_did_not_take_part_expands_to_nothing() -> None:
    assert rewrite("app", regexp(r"^(app)(-v\d+)?$", "$1$2")).key == "app"


def test_a_reference_to_a_missing_group_names_it() -> None:
    with pytest.raises(ValueError, match="group '3'"):
        rewrite("a.b", regexp(r"^(a)\.(b)$", "$3"))
    with pytest.raises(ValueError, match="group 'nope'"):
        rewrite("a.b", regexp(r"^(a)\.(b)$", "${nope}"))


def test_every_match_is_replaced() -> None:
    assert rewrite("team/app/db", regexp("/", "_")).key == "team_app_db"


def test_the_property_expands_against_the_first_match() -> None:
    assert rewrite("a1-b2", regexp(r"([a-z])(\d)", "$2$1", "field-$1")) == MappedKey("1a-2b", "field-a")


def test_a_rule_that_does_not_match_keeps_the_key_and_property() -> None:
    assert apply_regexp("other", RegexpRule(source="^game-", target="x")) is None
    assert rewrite("other", SEED_RULE, prop="given") == MappedKey("other", "given")


def test_a_rule_without_a_property_keeps_the_one_already_set() -> None:
    assert rewrite("a", regexp("a", "b"), prop="password") == MappedKey("b", "password")


def test_rules_apply_in_order_each_seeing_the_previous_result() -> None:
    first_prefix_then_flatten = rewrite("db/password", regexp("^", "prod/"), regexp("/", "-"))
    first_flatten_then_prefix = rewrite("db/password", regexp("/", "-"), regexp("^", "prod/"))
    assert first_prefix_then_flatten.key == "prod-db-password"
    assert first_flatten_then_prefix.key == "prod/db-password"


def test_the_last_rule_that_sets_a_property_wins() -> None:
    rules = (regexp("^(.+)$", "$1", "first"), regexp("^(.+)$", "$1", "second"), regexp("x", "y"))
    assert rewrite("k", *rules).property == "second"


# --------------------------------------------------------------------------------------------- templates


def test_template_rules_see_key_store_and_job() -> None:
    assert rewrite("DB/Pass", template("{{ job }}/{{ store }}/{{ key | lower }}")).key == "job-1/dst/db/pass"


def test_template_output_is_stripped() -> None:
    assert rewrite("a", template("  {{ key }}-x \n")).key == "a-x"


def test_template_and_regexp_rules_chain() -> None:
    rules = (regexp(r"^svc-(?P<name>.+)$", "services/${name}"), template("{{ key | upper }}"))
    assert rewrite("svc-beta", *rules).key == "SERVICES/BETA"


def test_template_rule_with_an_unknown_variable_fails() -> None:
    with pytest.raises(TemplateError, match="'environment' is undefined"):
        rewrite("a", template("{{ environment }}/{{ key }}"))


# --------------------------------------------------------------------------------------------- properties


@given(keys)
def test_keys_a_rule_does_not_match_pass_unchanged(key: str) -> None:
    assume(not key.startswith("game-"))
    assert rewrite(key, SEED_RULE, prop=None) == MappedKey(key, None)


@given(keys, keys)
def test_a_whole_key_capture_rewrites_to_prefix_plus_key(key: str, prefix: str) -> None:
    assume("$" not in prefix)
    assert rewrite(key, regexp("^(.*)$", f"{prefix}$1")).key == prefix + key


@given(keys, st.sampled_from("/-_.@"), st.text(alphabet=string.ascii_letters + "/_", max_size=3))
def test_a_literal_rule_replaces_like_str_replace(key: str, char: str, replacement: str) -> None:
    result = apply_regexp(key, RegexpRule(source=re.escape(char), target=replacement))
    if char in key:
        assert result == MappedKey(key.replace(char, replacement))
    else:
        assert result is None


@given(st.lists(st.sampled_from(["$$", "a", "1", "{1}", "/"]), max_size=8))
def test_double_dollar_is_always_one_literal_dollar(pieces: list[str]) -> None:
    """``$$1`` and ``$${1}`` are a dollar followed by text, never a reference to group 1."""
    target = "".join(pieces)
    expected = "".join("$" if piece == "$$" else piece for piece in pieces)
    assert rewrite("k", regexp("^(k)$", target)).key == expected


@given(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.from_regex(r"[a-z]{1,8}", fullmatch=True))
def test_named_and_numbered_references_agree(app: str, env: str) -> None:
    pattern = r"^(?P<app>[a-z]+)\.(?P<env>[a-z]+)$"
    named = rewrite(f"{app}.{env}", regexp(pattern, "${env}/${app}"))
    numbered = rewrite(f"{app}.{env}", regexp(pattern, "$2/$1"))
    assert named == numbered == MappedKey(f"{env}/{app}")


@given(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True))
def test_seed_rule_maps_any_game_key_to_its_group_and_field(group: str, field: str) -> None:
    assert rewrite(f"game-{group}.{field}", SEED_RULE) == MappedKey(f"my/path/{group}", f"prop-{field}")


@given(keys)
def test_an_identity_rule_changes_nothing(key: str) -> None:
    assert rewrite(key, regexp("^(.+)$", "$1")) == MappedKey(key)
