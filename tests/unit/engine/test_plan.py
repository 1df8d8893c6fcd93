"""Planning: resolving plan items to source keys (query) and mapping them to target keys (transform)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.plan import (
    KeyMapping,
    PlanError,
    ResolvedItem,
    SourceRef,
    TargetPlan,
    map_targets,
    resolve_sources,
)
from airflow_secret_sync.engine.store import Marker, StoreError
from airflow_secret_sync.providers.file.store import FileSecretStore
from airflow_secret_sync.providers.gcp.spec import secret_id_problem
from airflow_secret_sync.spec.models import SyncJob

MARKER = Marker(job="seed", source_store="", source_key="")
SOURCE_KEYS = [
    "db-password",
    "db/creds",
    "game-abc.def",
    "game-abc.xyz",
    "team-a/svc-alpha",
    "team-a/deep/svc-x",
    "team-b/svc-beta",
]


def make_job(plan: list[dict[str, Any]], **spec: Any) -> SyncJob:
    spec.setdefault("targets", ["dst"])
    return SyncJob.model_validate(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": "job-1"},
            "spec": {"source": "src", "plan": plan, **spec},
        }
    )


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, FileSecretStore]:
    src = FileSecretStore(tmp_path / "src")
    for key in SOURCE_KEYS:
        src.write(key, "v", MARKER)
    other = FileSecretStore(tmp_path / "other")
    other.write("shared/token", "v", MARKER)
    return {"src": src, "other": other}


def no_problem(store: str, key: str) -> str | None:
    return None


def mapped(
    job: SyncJob, resolved: list[ResolvedItem], **kwargs: Any
) -> dict[str, list[tuple[str, str | None]]]:
    plans = map_targets(job, resolved, key_problem=kwargs.pop("key_problem", no_problem), **kwargs)
    return {
        store: [(m.target_key, m.target_property) for m in plan.mappings] for store, plan in plans.items()
    }


def source_keys(resolved: list[ResolvedItem]) -> list[list[str]]:
    return [[ref.key for ref in item.sources] for item in resolved]


# --------------------------------------------------------------------------------------------- resolve


def test_static_keys_are_taken_as_written_without_listing(sources: dict[str, FileSecretStore]) -> None:
    job = make_job([{"secret": {"key": "not/listed/anywhere", "property": "password", "version": 3}}])
    [item] = resolve_sources(job, {})
    assert item.sources == (SourceRef("src", "not/listed/anywhere", "password", "3"),)


def test_queries_select_by_path_regexp_and_depth(sources: dict[str, FileSecretStore]) -> None:
    job = make_job(
        [
            {"query": {"path": "team-a/"}},
            {"query": {"path": "team-a/", "recursive": False}},
            {"query": {"regexp": r"svc-"}},
            {"query": {"regexp": r"^game-.+"}},
        ]
    )
    assert source_keys(resolve_sources(job, sources)) == [
        ["team-a/deep/svc-x", "team-a/svc-alpha"],
        ["team-a/svc-alpha"],
        ["team-a/deep/svc-x", "team-a/svc-alpha", "team-b/svc-beta"],
        ["game-abc.def", "game-abc.xyz"],
    ]


def test_an_item_can_read_from_another_store(sources: dict[str, FileSecretStore]) -> None:
    job = make_job([{"query": {}, "source": "other"}, {"secret": {"key": "x"}, "source": "other"}])
    resolved = resolve_sources(job, sources)
    assert [ref.label() for item in resolved for ref in item.sources] == ["other:shared/token", "other:x"]


def test_compositions_keep_their_named_sources(sources: dict[str, FileSecretStore]) -> None:
    job = make_job(
        [
            {
                "sources": {"user": {"key": "db/creds", "property": "user"}, "pw": {"key": "db-password"}},
                "template": "{{ user }}:{{ pw }}",
                "target": {"key": "dsn"},
            }
        ]
    )
    [item] = resolve_sources(job, sources)
    assert item.named == (
        ("user", SourceRef("src", "db/creds", "user")),
        ("pw", SourceRef("src", "db-password")),
    )


def test_a_key_filter_narrows_every_item_kind(sources: dict[str, FileSecretStore]) -> None:
    job = make_job(
        [
            {"secret": {"key": "db-password"}},
            {"secret": {"key": "team-b/svc-beta"}},
            {"query": {}},
            {"sources": {"a": {"key": "db/creds"}}, "template": "{{ a }}", "target": {"key": "t"}},
        ]
    )
    resolved = resolve_sources(job, sources, key_filter="^db")
    assert source_keys(resolved) == [["db-password"], [], ["db-password", "db/creds"], []]
    assert resolved[3].named and not resolve_sources(job, sources, key_filter="^team")[3].named


def test_a_failing_listing_raises_instead_of_looking_empty(sources: dict[str, FileSecretStore]) -> None:
    class Unlistable(FileSecretStore):
        def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
            raise StoreError("listing failed: throttled")

    broken = Unlistable(sources["src"].root)
    with pytest.raises(StoreError, match="throttled"):
        resolve_sources(make_job([{"query": {}}]), {"src": broken})


def test_progress_reports_each_listing(sources: dict[str, FileSecretStore]) -> None:
    seen: list[str] = []
    resolve_sources(make_job([{"query": {"path": "team-a/"}}, {"query": {}}]), sources, progress=seen.append)
    assert seen == ["listing src:team-a/", "listing src:/"]


def test_a_query_matching_nothing_is_a_warning_naming_it(
    sources: dict[str, FileSecretStore], caplog: pytest.LogCaptureFixture
) -> None:
    job = make_job(
        [
            {"query": {"path": "team-a/", "regexp": "^team-a/svc-z"}},
            {"query": {"path": "team-c/"}},
            {"query": {}},
        ]
    )
    warnings: list[str] = []
    resolve_sources(job, sources, warn=warnings.append)
    assert warnings == [
        "spec.plan[0].query (path 'team-a/', regexp '^team-a/svc-z') matched no key in store 'src' "
        "(of 2 keys listed); nothing to sync for it",
        "spec.plan[1].query (path 'team-c/') matched no key in store 'src' (the listing is empty); "
        "nothing to sync for it",
    ]
    resolve_sources(job, sources, key_filter="^nothing$")
    logged = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(logged) == 3 and logged[2].endswith(
        "(of 7 keys listed, after the key filter); nothing to sync for it"
    )


# --------------------------------------------------------------------------------------------- map


def test_seed_example_maps_two_game_keys_to_two_fields_of_one_target(
    sources: dict[str, FileSecretStore],
) -> None:
    job = make_job(
        [
            {
                "query": {"regexp": "^game-"},
                "keyTransform": [
                    {
                        "regexp": {
                            "source": r"^game-(.+)\.(.+)$",
                            "target": "my/path/$1",
                            "property": "prop-$2",
                        }
                    }
                ],
            }
        ]
    )
    assert mapped(job, resolve_sources(job, sources)) == {
        "dst": [("my/path/abc", "prop-def"), ("my/path/abc", "prop-xyz")]
    }


def test_rules_run_item_then_job_then_target(sources: dict[str, FileSecretStore]) -> None:
    job = make_job(
        [{"secret": {"key": "db-password"}, "keyTransform": [{"template": "item/{{ key }}"}]}],
        keyTransform=[{"template": "job/{{ key }}"}],
        targets=["plain", {"store": "flat", "keyTransform": [{"regexp": {"source": "/", "target": "_"}}]}],
    )
    assert mapped(job, resolve_sources(job, sources)) == {
        "plain": [("job/item/db-password", None)],
        "flat": [("job_item_db-password", None)],
    }


def test_key_templates_at_every_level_name_the_target_store_and_the_job(
    sources: dict[str, FileSecretStore],
) -> None:
    """One plan, two targets: each target's keys carry its own store name, at item, job and target level."""
    job = make_job(
        [{"secret": {"key": "db-password"}, "keyTransform": [{"template": "{{ store }}/{{ key }}"}]}],
        keyTransform=[{"template": "{{ job }}/{{ key }}"}],
        targets=[
            "vault-a",
            {"store": "vault-b", "keyTransform": [{"template": "{{ key }}@{{ store }}.{{ job }}"}]},
        ],
    )
    assert mapped(job, resolve_sources(job, sources)) == {
        "vault-a": [("job-1/vault-a/db-password", None)],
        "vault-b": [("job-1/vault-b/db-password@vault-b.job-1", None)],
    }


def test_an_explicit_target_key_skips_item_and_job_rules_but_not_the_targets_own() -> None:
    job = make_job(
        [
            {
                "secret": {"key": "a"},
                "target": {"key": "exact/name"},
                "keyTransform": [{"template": "x{{ key }}"}],
            }
        ],
        keyTransform=[{"template": "y{{ key }}"}],
        targets=["plain", {"store": "flat", "keyTransform": [{"regexp": {"source": "/", "target": "-"}}]}],
    )
    assert mapped(job, resolve_sources(job, {})) == {
        "plain": [("exact/name", None)],
        "flat": [("exact-name", None)],
    }


def test_a_target_property_without_a_key_keeps_the_mapped_key() -> None:
    job = make_job(
        [
            {
                "secret": {"key": "db-password"},
                "target": {"property": "password"},
                "keyTransform": [{"template": "db"}],
            }
        ]
    )
    assert mapped(job, resolve_sources(job, {})) == {"dst": [("db", "password")]}


def test_keys_a_store_refuses_are_set_aside_and_the_rest_planned(sources: dict[str, FileSecretStore]) -> None:
    job = make_job([{"query": {"path": "team-a/"}}], targets=["gsm"])

    def gcp(store: str, key: str) -> str | None:
        return secret_id_problem(key)

    plans = map_targets(job, resolve_sources(job, sources), key_problem=gcp)
    assert plans["gsm"].mappings == []
    assert [(r["key"], r["sourceKey"], r["item"]) for r in plans["gsm"].refused] == [
        ("team-a/deep/svc-x", "team-a/deep/svc-x", 0),
        ("team-a/svc-alpha", "team-a/svc-alpha", 0),
    ]
    assert all(r["reason"].startswith("invalid target key: GCP secret ids") for r in plans["gsm"].refused)


@pytest.mark.parametrize(
    ("plan", "message", "items"),
    [
        (
            [
                {"secret": {"key": "a"}, "target": {"key": "t"}},
                {"secret": {"key": "b"}, "target": {"key": "t"}},
            ],
            "sources 'a' and 'b' would both write key 't'",
            (0, 1),
        ),
        (
            [
                {"secret": {"key": "a"}, "target": {"key": "t", "property": "p"}},
                {"secret": {"key": "b"}, "target": {"key": "t", "property": "p"}},
            ],
            "would both write key 't' field 'p'",
            (0, 1),
        ),
        (
            [
                {"secret": {"key": "a"}, "target": {"key": "t", "property": "p"}},
                {"secret": {"key": "b"}, "target": {"key": "t"}},
            ],
            "would both write key 't'",
            (0, 1),
        ),
        (
            [
                {"secret": {"key": "a"}, "target": {"key": "t"}},
                {"secret": {"key": "b"}, "target": {"key": "t", "property": "p"}},
            ],
            "would both write key 't' field 'p'",
            (0, 1),
        ),
        (
            [{"query": {}, "keyTransform": [{"template": "everything"}]}],
            "would both write key 'everything'",
            (0, 0),
        ),
    ],
)
def test_two_sources_writing_the_same_key_or_field_make_the_plan_unsafe(
    sources: dict[str, FileSecretStore], plan: list[dict[str, Any]], message: str, items: tuple[int, int]
) -> None:
    job = make_job(plan)
    with pytest.raises(PlanError, match=message) as err:
        map_targets(job, resolve_sources(job, sources), key_problem=no_problem)
    assert err.value.items == items
    assert "store 'dst'" in str(err.value)


def test_different_fields_of_one_key_do_not_collide() -> None:
    job = make_job(
        [
            {"secret": {"key": "a"}, "target": {"key": "t", "property": "user"}},
            {"secret": {"key": "b"}, "target": {"key": "t", "property": "password"}},
        ]
    )
    assert mapped(job, resolve_sources(job, {})) == {"dst": [("t", "user"), ("t", "password")]}


def test_collisions_are_per_target_store(sources: dict[str, FileSecretStore]) -> None:
    """Only the store whose own rule merges keys is unsafe, and the error names it."""
    job = make_job(
        [{"query": {"path": "team-a/"}}],
        targets=["keeps", {"store": "merges", "keyTransform": [{"template": "one"}]}],
    )
    with pytest.raises(PlanError, match="store 'merges'"):
        map_targets(job, resolve_sources(job, sources), key_problem=no_problem)
    assert mapped(job, resolve_sources(job, sources), targets=["keeps"]) == {
        "keeps": [("team-a/deep/svc-x", None), ("team-a/svc-alpha", None)]
    }


def test_compositions_map_to_their_target_key_with_the_template() -> None:
    job = make_job(
        [
            {
                "sources": {"u": {"key": "db/creds", "property": "user"}},
                "templateFields": {"dsn": "{{ u }}"},
                "target": {"key": "app/config"},
            }
        ]
    )
    [mapping] = map_targets(job, resolve_sources(job, {}), key_problem=no_problem)["dst"].mappings
    assert (mapping.target_key, mapping.source, mapping.template_fields) == (
        "app/config",
        None,
        (("dsn", "{{ u }}"),),
    )
    assert mapping.source_refs == (SourceRef("src", "db/creds", "user"),)


def test_plans_travel_as_json_and_come_back_equal(sources: dict[str, FileSecretStore]) -> None:
    job = make_job(
        [
            {
                "query": {"regexp": "^game-"},
                "keyTransform": [
                    {
                        "regexp": {
                            "source": r"^game-(.+)\.(.+)$",
                            "target": "my/path/$1",
                            "property": "prop-$2",
                        }
                    }
                ],
            },
            {"secret": {"key": "db-password", "version": 2}},
            {
                "sources": {"u": {"key": "db/creds", "property": "user"}},
                "template": "{{ u }}",
                "target": {"key": "t"},
            },
        ]
    )
    plan: TargetPlan = map_targets(job, resolve_sources(job, sources), key_problem=no_problem)["dst"]
    wire = json.loads(json.dumps([mapping.to_json() for mapping in plan.mappings]))
    assert [KeyMapping.from_json(data) for data in wire] == plan.mappings


def test_a_target_plan_survives_the_xcom_round_trip_whole() -> None:
    """``transform`` hands the plan to ``push`` through XCom as plain JSON; nothing may be lost on the way."""
    composed = KeyMapping(
        item=2,
        target_key="apps/db",
        target_property="dsn",
        named=(("user", SourceRef("vault", "db/user", "name", "3")), ("password", SourceRef("aws", "db/pw"))),
        template="{{ user }}:{{ password }}",
        template_fields=(("host", "{{ user }}.example"),),
    )
    single = KeyMapping(item=0, target_key="apps/api", source=SourceRef("vault", "api", None, "7"))
    plan = TargetPlan("gcp", [composed, single], [{"key": "bad key", "reason": "letters only"}])

    wire = plan.to_json()
    assert json.loads(json.dumps(wire)) == wire
    assert TargetPlan.from_json(json.loads(json.dumps(wire))) == plan


def test_a_target_plan_without_mappings_or_refusals_reads_back_empty() -> None:
    assert TargetPlan.from_json({"store": "gcp"}) == TargetPlan("gcp")


def test_a_resolved_item_survives_the_xcom_round_trip_whole() -> None:
    item = ResolvedItem(
        index=4,
        sources=(SourceRef("vault", "a", "x", "2"), SourceRef("vault", "b")),
        named=(("user", SourceRef("aws", "db/user", None, "AWSCURRENT")),),
    )
    wire = json.loads(json.dumps(item.to_json()))
    assert ResolvedItem.from_json(wire) == item
    assert ResolvedItem.from_json({"index": 1}) == ResolvedItem(1)
