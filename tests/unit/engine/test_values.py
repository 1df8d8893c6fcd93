"""Value rules: conversion between text and map stores, property selection and merging, semantic equality."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_secret_sync.engine.values import (
    MissingProperty,
    ValueShapeError,
    as_map,
    as_text,
    equal,
    field_to_value,
    leaves,
    merge_fields,
    parse_object,
    property_changes,
    select_property,
    to_kind,
)

# JSON-representable maps, as Vault KV holds them (no NaN: it is not equal to itself)
json_leaf = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)
maps = st.dictionaries(st.text(), json_value, max_size=5)
# text that is not a JSON object (a leading "{" could make it one)
plain_text = st.text().filter(lambda text: parse_object(text) is None)


# --------------------------------------------------------------------------------------------- conversion


def test_map_becomes_sorted_compact_json_in_a_text_store() -> None:
    assert to_kind({"b": 1, "a": "é"}, "text") == '{"a":"é","b":1}'


def test_json_object_text_becomes_the_map_in_a_map_store() -> None:
    assert to_kind('{"user": "app", "port": 5432}', "map") == {"user": "app", "port": 5432}


@pytest.mark.parametrize("text", ["hunter2", "[1, 2]", '"quoted"', "42", "{not json", ""])
def test_other_text_becomes_a_value_field_in_a_map_store(text: str) -> None:
    assert to_kind(text, "map") == {"value": text}


def test_text_and_bytes_stay_as_they_are_in_a_text_store() -> None:
    assert to_kind("hunter2", "text") == "hunter2"
    assert to_kind(b"\x00\xff", "text") == b"\x00\xff"


def test_binary_value_cannot_go_into_a_map_store() -> None:
    with pytest.raises(ValueShapeError, match="binary value"):
        to_kind(b"\xff\xfe", "map")


def test_utf8_bytes_go_into_a_map_store_as_text() -> None:
    assert as_map("pässword".encode()) == {"value": "pässword"}
    assert as_map(b'{"a": 1}') == {"a": 1}


@given(maps)
def test_map_to_text_to_map_is_lossless(value: dict[str, Any]) -> None:
    assert to_kind(to_kind(value, "text"), "map") == value


@given(maps)
def test_a_map_equals_its_text_form(value: dict[str, Any]) -> None:
    assert equal(value, as_text(value))
    assert equal(as_text(value), value)


@given(plain_text)
def test_plain_text_survives_a_trip_through_a_map_store_as_its_value_field(text: str) -> None:
    assert select_property(to_kind(text, "map"), "value") == text


@given(plain_text)
def test_to_kind_text_is_identity_for_text(text: str) -> None:
    assert to_kind(text, "text") == text


# --------------------------------------------------------------------------------------------- properties


def test_select_property_from_a_map_and_from_json_text() -> None:
    assert select_property({"user": "app", "password": "p"}, "password") == "p"
    assert select_property('{"user": "app", "port": 5432}', "port") == 5432


def test_select_missing_property_names_neither_the_other_fields_nor_values() -> None:
    # field names can be sensitive too (a token's id as a field name), and errors reach logs and the CLI
    with pytest.raises(MissingProperty) as err:
        select_property({"user": "app-user", "aws-key-AKIAEXAMPLE": "s3cr3t-value"}, "pasword")
    message = str(err.value)
    assert message == "property 'pasword' not found in the secret"


def test_select_property_of_plain_text_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueShapeError) as err:
        select_property("plain-secret-text", "password")
    assert "not a map or JSON object" in str(err.value)
    assert "plain-secret-text" not in str(err.value)


def test_merge_sets_one_field_and_keeps_the_others() -> None:
    assert merge_fields({"user": "app", "password": "old"}, {"password": "new"}) == {
        "user": "app",
        "password": "new",
    }
    assert merge_fields('{"user": "app"}', {"password": "new"}) == {"user": "app", "password": "new"}
    assert merge_fields(None, {"password": "new"}) == {"password": "new"}


def test_merge_into_plain_text_keeps_it_as_the_value_field() -> None:
    assert merge_fields("legacy", {"password": "p"}) == {"value": "legacy", "password": "p"}


def test_merge_does_not_change_the_current_value() -> None:
    current = {"user": "app"}
    merge_fields(current, {"password": "p"})
    assert current == {"user": "app"}


@given(maps, st.dictionaries(st.text(), json_value, min_size=1, max_size=3))
def test_merge_keeps_every_untouched_field(current: dict[str, Any], fields: dict[str, Any]) -> None:
    merged = merge_fields(current, fields)
    assert {name: merged[name] for name in fields} == fields
    assert {name: value for name, value in merged.items() if name not in fields} == {
        name: value for name, value in current.items() if name not in fields
    }


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("text", "text"),
        (b"raw", b"raw"),
        ({"a": 1}, {"a": 1}),
        (5432, "5432"),
        (True, "true"),
        (None, "null"),
        (["a", "b"], '["a", "b"]'),
    ],
)
def test_selected_field_used_as_a_whole_secret(field: Any, expected: Any) -> None:
    assert field_to_value(field) == expected


# --------------------------------------------------------------------------------------------- equality


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("same", "same"),
        ("same", b"same"),
        ({"a": 1, "b": [1, 2]}, {"b": [1, 2], "a": 1}),
        ('{"a": 1, "b": 2}', '{"b":2,"a":1}'),
        ('{"a": 1}', {"a": 1}),
        ('  {"a": 1}', {"a": 1}),
    ],
)
def test_equal_values(left: Any, right: Any) -> None:
    assert equal(left, right)
    assert equal(right, left)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("same", "Same"),
        ("same", "same\n"),  # a trailing newline is part of a secret
        ({"a": 1}, {"a": "1"}),
        ({"a": True}, {"a": 1}),  # Python's == says equal; a change of type is a change
        ({"a": False}, {"a": 0}),
        ('{"a": true}', {"a": 1}),
        ({"a": [1, True]}, {"a": [1, 1]}),
        ({"a": {"b": 0}}, {"a": {"b": False}}),
        ({"a": None}, {"a": 0}),
        ({"a": "1"}, '{"a": 1}'),
        ({"a": 1}, {"a": 1, "b": 1}),
        ("[1, 2]", "[1,2]"),  # only objects are compared parsed
        ("plain", {"value": "plain"}),
        ("x", None),
    ],
)
def test_unequal_values(left: Any, right: Any) -> None:
    assert not equal(left, right)
    assert not equal(right, left)


def test_numbers_compare_by_value_as_json_has_one_number_type() -> None:
    # Vault answers 1 for a 1.0 written: comparing types here would rewrite such a secret on every run
    assert equal({"port": 1.0}, {"port": 1})
    assert equal('{"port": 5432.0}', {"port": 5432})
    assert not equal({"port": 1.5}, {"port": 1})


def test_property_changes_name_fields_added_changed_and_removed() -> None:
    before = {"user": "app", "token": "t-1", "port": 1, "flag": 1}
    after = '{"user": "app", "port": 2, "flag": true, "new": "x"}'
    assert property_changes(before, after) == {
        "added": ["new"],
        "changed": ["flag", "port"],
        "removed": ["token"],
    }
    assert property_changes(None, {"a": 1}) == {"added": ["a"], "changed": [], "removed": []}
    assert property_changes("plain text", {"a": 1}) is None


def test_none_equals_only_none() -> None:
    assert equal(None, None)


@given(json_value)
def test_equality_is_reflexive_across_forms(value: Any) -> None:
    wrapped = {"v": value}
    assert equal(wrapped, json.dumps(wrapped))


# --------------------------------------------------------------------------------------------- masking


def test_leaves_find_every_text_a_value_holds() -> None:
    found = leaves({"user": "app-user", "nested": {"password": "p4ssw0rd", "port": 5432}, "list": ["tok-1"]})
    assert {"app-user", "p4ssw0rd", "5432", "tok-1"} <= set(found)
    # the whole JSON text too, since that is what a text store holds
    assert (
        as_text({"user": "app-user", "nested": {"password": "p4ssw0rd", "port": 5432}, "list": ["tok-1"]})
        in found
    )


def test_leaves_of_json_text_include_its_fields() -> None:
    assert {'{"password": "p4ssw0rd"}', "p4ssw0rd"} <= set(leaves('{"password": "p4ssw0rd"}'))


def test_leaves_skip_empty_and_undecodable_values() -> None:
    assert leaves("") == []
    assert leaves(b"\xff\xfe") == []
    assert leaves(True) == []
