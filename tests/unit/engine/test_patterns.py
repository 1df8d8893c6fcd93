"""User patterns run on RE2: catastrophic backtracking is impossible, unsupported syntax is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_secret_sync.engine.keys import apply_regexp
from airflow_secret_sync.engine.plan import resolve_sources
from airflow_secret_sync.engine.store import Marker
from airflow_secret_sync.providers.file.store import FileSecretStore
from airflow_secret_sync.spec.models import RegexpRule, SyncJob
from airflow_secret_sync.spec.patterns import compile_pattern

EVIL = r"^(a+)+$"  # Python's re takes 2^n steps on 'aaa...ab'; at n = 200 it would never finish
NEAR_MISSES = [f"{'a' * 200}{index:02d}b" for index in range(30)]
HITS = ["a" * 200, "a" * 201]


def job(plan: list[dict[str, object]]) -> SyncJob:
    return SyncJob.model_validate(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": "j"},
            "spec": {"source": "src", "targets": ["dst"], "plan": plan},
        }
    )


@pytest.fixture
def source(tmp_path: Path) -> FileSecretStore:
    store = FileSecretStore(tmp_path / "src")
    for key in NEAR_MISSES + HITS:
        store.write(key, "v", Marker("seed", "", ""))
    return store


@pytest.mark.timeout(60)  # a guard only: the assertions are about what comes back
def test_a_catastrophic_query_pattern_returns_the_matching_keys(source: FileSecretStore) -> None:
    [item] = resolve_sources(job([{"query": {"regexp": EVIL}}]), {"src": source})
    assert sorted(ref.key for ref in item.sources) == HITS


@pytest.mark.timeout(60)
def test_a_catastrophic_keys_filter_returns_the_matching_keys(source: FileSecretStore) -> None:
    [item] = resolve_sources(job([{"query": {}}]), {"src": source}, key_filter=EVIL)
    assert sorted(ref.key for ref in item.sources) == HITS


@pytest.mark.timeout(60)
def test_a_catastrophic_key_rule_rewrites_only_the_matching_keys() -> None:
    rule = RegexpRule(source=r"^(a+)+$", target="all-a")
    assert [apply_regexp(key, rule) for key in NEAR_MISSES] == [None] * len(NEAR_MISSES)
    assert apply_regexp("a" * 200, rule) is not None


@pytest.mark.parametrize(
    ("pattern", "detail"),
    [
        (r"^(\w+)-\1$", r"invalid escape sequence: \1"),  # backreference
        (r"^(?P<x>a)(?P=x)$", "invalid perl operator: (?P"),  # named backreference
        (r"^team-(?!internal)", "invalid perl operator: (?!"),  # lookahead
        (r"(?<=prod/)db", "invalid perl operator: (?<="),  # lookbehind
        (r"a++", "bad repetition operator: ++"),  # possessive
        (r"(a)?(?(1)b|c)", "invalid perl operator: (?("),  # conditional
        (r"secret\Z", r"invalid escape sequence: \Z"),  # Python's end anchor: RE2 spells it \z
    ],
)
def test_constructs_re2_lacks_are_refused_saying_re2_syntax_is_required(pattern: str, detail: str) -> None:
    with pytest.raises(ValueError) as err:
        compile_pattern(pattern)
    assert str(err.value) == (
        f"invalid regular expression {pattern!r}: {detail}; RE2 syntax is required "
        "(no backreferences, lookaround, possessive quantifiers or conditionals)"
    )


def test_a_pattern_broken_in_any_syntax_gets_re2s_reason_alone() -> None:
    with pytest.raises(ValueError, match=r"^invalid regular expression '\^team-\[a-': missing \]: \[a-$"):
        compile_pattern("^team-[a-")


def test_named_groups_and_classes_work_as_in_python() -> None:
    rule = RegexpRule(source=r"^(?P<app>[[:alpha:]]+)-(\d+)$", target="${app}/$2")
    mapped = apply_regexp("billing-42", rule)
    assert mapped is not None and mapped.key == "billing/42"


def test_a_refused_pattern_is_reported_once_in_the_error_not_also_on_stderr(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(ValueError, match="invalid perl operator"):
        compile_pattern("^only-here-(?!x)")
    assert capfd.readouterr().err == ""
