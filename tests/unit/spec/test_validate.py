"""Whole-configuration checks on templates: a template reaching for Python internals is refused at load time,
wherever it sits, with the field path, before any DAG runs or any value is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_secret_sync.engine.config import load_config

STORES = [
    {"apiVersion": "secret-sync/v1alpha1", "kind": "SecretStore", "metadata": {"name": name}, "spec": spec}
    for name, spec in [
        ("src", {"provider": {"file": {"path": "./src"}}}),
        ("dst", {"permissions": "ReadWrite", "provider": {"file": {"path": "./dst"}}}),
    ]
]
QUERY = {"query": {"regexp": "^db/"}}
COMPOSE = {"sources": {"user": {"key": "db/user"}, "pw": {"key": "db/pw"}}, "target": {"key": "db"}}


def load_job(tmp_path: Path, plan: list[dict[str, Any]], **spec: Any) -> list[str]:
    job = {
        "apiVersion": "secret-sync/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": "hostile"},
        "spec": {"source": "src", "targets": ["dst"], "plan": plan, **spec},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump_all([*STORES, job]))
    config = load_config(tmp_path)
    assert "hostile" not in config.jobs
    return [f"{error.path}: {error.message}" for error in config.errors]


@pytest.mark.parametrize(
    ("plan", "spec", "path"),
    [
        (
            [{**QUERY, "keyTransform": [{"template": "{{ key['__class__'] }}"}]}],
            {},
            "spec.plan[0].keyTransform[0]",
        ),
        ([QUERY], {"keyTransform": [{"template": "{{ key|attr('__globals__') }}"}]}, "spec.keyTransform[0]"),
        (
            [QUERY],
            {
                "targets": [
                    {
                        "store": "dst",
                        "keyTransform": [
                            {"regexp": {"source": "x", "target": "y"}},
                            {"template": "{{ store.__class__ }}"},
                        ],
                    }
                ]
            },
            "spec.targets[0].keyTransform[1]",
        ),
    ],
    ids=["query item rule", "job rule over a query", "target rule"],
)
def test_key_templates_reaching_python_internals_are_refused_even_when_only_queries_run(
    tmp_path: Path, plan: list[dict[str, Any]], spec: dict[str, Any], path: str
) -> None:
    [error] = load_job(tmp_path, plan, **spec)
    assert error.startswith(f"{path}.template: template reaches for Python internals (")
    assert "the sandbox refuses them" in error


@pytest.mark.parametrize(
    ("compose", "path"),
    [
        ({"template": "{{ user['__class__'] }}:{{ pw }}"}, "spec.plan[0].template"),
        (
            {"templateFields": {"user": "{{ user }}", "dsn": "{{ pw|attr('__globals__') }}"}},
            "spec.plan[0].templateFields.dsn",
        ),
    ],
    ids=["template", "templateFields"],
)
def test_compose_templates_reaching_python_internals_are_refused(
    tmp_path: Path, compose: dict[str, Any], path: str
) -> None:
    item = {**COMPOSE, **compose}
    [error] = load_job(tmp_path, [item])
    assert error.startswith(f"{path}: template reaches for Python internals (")


def test_a_compose_template_using_an_undeclared_name_names_the_sources_it_may_use(tmp_path: Path) -> None:
    item = {**COMPOSE, "template": "{{ user }}:{{ password }}"}
    assert load_job(tmp_path, [item]) == [
        "spec.plan[0].template: template uses password, which is not among sources (pw, user) "
        "or key, store, job"
    ]


def test_compose_templates_may_use_key_store_and_job(tmp_path: Path) -> None:
    item = {**COMPOSE, "template": "{{ job }}/{{ store }}/{{ key }}:{{ user }}{{ pw }}"}
    job = {
        "apiVersion": "secret-sync/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": "fine"},
        "spec": {"source": "src", "targets": ["dst"], "plan": [item]},
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump_all([*STORES, job]))
    config = load_config(tmp_path)
    assert config.errors == []
    assert list(config.jobs) == ["fine"]
