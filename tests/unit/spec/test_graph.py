"""Checks across jobs (``secret-sync validate``): target collisions and cycles, named by job and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_secret_sync.engine.config import check_job_graph, load_config
from airflow_secret_sync.spec.loader import Config

STORES = ("a", "b", "c", "src", "dst")


def document(kind: str, name: str, spec: dict[str, Any]) -> str:
    body = {"apiVersion": "secret-sync/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    return json.dumps(body)  # JSON is YAML


def job(name: str, source: str, targets: list[Any], *plan: dict[str, Any], **spec: Any) -> str:
    return document("SyncJob", name, {"source": source, "targets": targets, "plan": list(plan), **spec})


def checked(tmp_path: Path, *jobs: str) -> Config:
    stores = [
        document(
            "SecretStore", name, {"permissions": "ReadWrite", "provider": {"file": {"path": f"./{name}"}}}
        )
        for name in STORES
    ]
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "stores.yaml").write_text("\n---\n".join(stores))
    for index, text in enumerate(jobs):
        (tmp_path / f"job-{index}.yaml").write_text(text)
    config = load_config(tmp_path)
    assert config.errors == [], "each job is valid on its own"
    check_job_graph(config)
    return config


def messages(config: Config) -> list[str]:
    return [str(error) for error in config.errors]


def secret(key: str, target: str | None = None, **item: Any) -> dict[str, Any]:
    return {"secret": {"key": key}, **({"target": {"key": target}} if target else {}), **item}


def query(path: str = "", regexp: str | None = None, **item: Any) -> dict[str, Any]:
    return {"query": {"path": path, **({"regexp": regexp} if regexp else {})}, **item}


def rename(source: str, target: str) -> dict[str, Any]:
    return {"regexp": {"source": source, "target": target}}


# ----------------------------------------------------------------------------------------- collisions


def test_two_jobs_writing_one_static_key_after_their_key_rules_collide(tmp_path: Path) -> None:
    config = checked(
        tmp_path,
        job("prod", "src", ["dst"], secret("prod/db"), keyTransform=[rename("^prod/", "")]),
        job("copy", "a", ["dst"], secret("db")),
    )
    assert messages(config) == [
        "job-0.yaml: SyncJob 'prod': spec.plan[0]: target collision: job 'copy' (spec.plan[0]) and job "
        "'prod' (spec.plan[0]) both write key 'db' of store 'dst'; make the keys distinct or let one job "
        "own them"
    ]
    assert sorted(config.jobs) == ["copy"]


def test_a_query_that_lists_a_key_another_job_writes_collides(tmp_path: Path) -> None:
    # 'team-a/x' exists (a static item reads it), and the query of 'all' lists it under the same name
    config = checked(
        tmp_path,
        job("one", "src", ["dst"], secret("team-a/x")),
        job("all", "src", ["dst"], query("team-a/")),
    )
    assert messages(config) == [
        "job-0.yaml: SyncJob 'one': spec.plan[0]: target collision: job 'all' (spec.plan[0]) and job 'one' "
        "(spec.plan[0]) both write key 'team-a/x' of store 'dst' (job 'all' (spec.plan[0]) lists source "
        "key 'team-a/x'); make the keys distinct or let one job own them"
    ]


def test_two_items_of_one_job_whose_queries_overlap_collide(tmp_path: Path) -> None:
    rules = [rename("^team-a/", "apps/")]
    config = checked(
        tmp_path,
        job(
            "j",
            "src",
            ["dst"],
            query("team-a/", keyTransform=rules),
            query("team-a/svc-", keyTransform=rules),
        ),
    )
    assert messages(config) == [
        "job-0.yaml: SyncJob 'j': spec.plan[1]: target collision: job 'j' (spec.plan[0]) and job 'j' "
        "(spec.plan[1]) both write the same key of store 'dst' for every key the query path 'team-a/svc-' "
        "lists (both queries list it and rename it alike); make the keys distinct or let one job own them"
    ]


def test_same_queries_of_two_jobs_collide_unless_their_key_rules_differ(tmp_path: Path) -> None:
    same = checked(
        tmp_path / "same",
        job("x", "src", ["dst"], query("svc/", "^svc/[a-z]+$")),
        job("y", "src", ["dst"], query("svc/", "^svc/[a-z]+$")),
    )
    assert [error.name for error in same.errors] == ["y"]
    assert (
        "both write the same key of store 'dst' for every key the query path 'svc/', regexp"
        in messages(same)[0]
    )

    per_job = {"template": "{{ job }}/{{ key }}"}
    kept_apart = checked(
        tmp_path / "apart",
        job("x", "src", ["dst"], query("svc/", keyTransform=[per_job])),
        job("y", "src", ["dst"], query("svc/", keyTransform=[per_job])),
        job("z", "src", ["dst"], query("svc/", "^svc/a")),
        job("w", "src", ["dst"], query("svc/", "^svc/b")),
    )
    assert kept_apart.errors == []


def test_disjoint_writers_do_not_collide(tmp_path: Path) -> None:
    config = checked(
        tmp_path,
        job("one", "src", ["dst"], secret("db", target="db-one")),
        job("two", "src", ["dst"], secret("db", target="db-two")),
        job("elsewhere", "src", ["a"], secret("db", target="db-one")),
        job(
            "fields",  # two fields of one key, from one job: allowed
            "src",
            ["b"],
            {"secret": {"key": "x"}, "target": {"key": "creds", "property": "user"}},
            {"secret": {"key": "y"}, "target": {"key": "creds", "property": "password"}},
        ),
    )
    assert config.errors == []


# ----------------------------------------------------------------------------------------- cycles


def test_a_three_hop_cycle_is_refused_naming_the_jobs(tmp_path: Path) -> None:
    config = checked(
        tmp_path,
        job("a-to-b", "a", ["b"], query("app/")),
        job("b-to-c", "b", ["c"], query()),
        job("c-to-a", "c", ["a"], query("app/x/")),
    )
    assert messages(config) == [
        "job-2.yaml: SyncJob 'c-to-a': spec.plan[0]: cycle: a key can travel a -> b (job 'a-to-b', "
        "spec.plan[0]) -> c (job 'b-to-c', spec.plan[0]) -> a (job 'c-to-a', spec.plan[0]), back into store "
        "'a' it came from (jobs 'a-to-b', 'b-to-c', 'c-to-a'); narrow the keys of one of these jobs so that "
        "the chain breaks"
    ]
    assert sorted(config.jobs) == ["a-to-b", "b-to-c"]


def test_static_keys_travel_only_where_they_are_read(tmp_path: Path) -> None:
    apart = checked(
        tmp_path / "apart",
        job("out", "a", ["b"], secret("x")),
        job("back", "b", ["a"], secret("y")),
    )
    assert apart.errors == []
    back = checked(
        tmp_path / "back",
        job("out", "a", ["b"], secret("x")),
        job("back", "b", ["a"], secret("x", target="z")),
    )
    assert [error.name for error in back.errors] == ["back"]
    assert (
        "cycle: a key can travel a -> b (job 'out', spec.plan[0]) -> a (job 'back', spec.plan[0])"
        in messages(back)[0]
    )


def test_queries_over_disjoint_paths_make_no_cycle_unless_a_rule_renames_the_keys(tmp_path: Path) -> None:
    apart = checked(
        tmp_path / "apart",
        job("out", "a", ["b"], query("app/")),
        job("back", "b", ["a"], query("legacy/")),
    )
    assert apart.errors == []
    renamed = checked(
        tmp_path / "renamed",
        job("out", "a", ["b"], query("app/", keyTransform=[rename("^app/", "legacy/")])),
        job("back", "b", ["a"], query("legacy/")),
    )
    assert [error.name for error in renamed.errors] == ["back"]


def test_keys_that_name_one_azure_key_vault_secret_collide(tmp_path: Path) -> None:
    # Key Vault compares names without regard to case: 'Team/DB' and 'team/db' are one secret 'team--db'
    vault = document(
        "SecretStore",
        "kv",
        {"permissions": "ReadWrite", "provider": {"azureKeyVault": {"connId": "azure"}}},
    )
    (tmp_path / "kv.yaml").write_text(vault)
    config = checked(
        tmp_path,
        job("upper", "a", ["kv"], secret("Team/DB")),
        job("lower", "b", ["kv"], secret("team/db")),
    )
    assert messages(config) == [
        "job-0.yaml: SyncJob 'upper': spec.plan[0]: target collision: job 'lower' (spec.plan[0]) and job "
        "'upper' (spec.plan[0]) both write key 'team--db' of store 'kv'; make the keys distinct or let one "
        "job own them"
    ]
