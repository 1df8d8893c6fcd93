"""Query items in the configuration: ``property`` and ``template`` per matched key, selection by tags.

What ``validate`` refuses (with the field path) and warns about, before any store is called.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.spec.loader import Config

PUBLISHED = Path(__file__).parents[3] / "airflow_secret_sync" / "schema" / "secret-sync.schema.json"

PROVIDERS: dict[str, dict[str, Any]] = {
    "file": {"file": {"path": "./src"}},
    "vault": {"vault": {"connId": "vault"}},
    "vault-kv1": {"vault": {"connId": "vault", "kvVersion": 1}},
    "aws": {"aws": {"connId": "aws"}},
    "awsParameterStore": {"awsParameterStore": {"connId": "aws"}},
    "gcp": {"gcp": {"connId": "gcp"}},
    "kubernetes": {"kubernetes": {"connId": "k8s", "namespace": "apps"}},
    "azureKeyVault": {"azureKeyVault": {"connId": "azure", "vaultUrl": "https://v.vault.azure.net"}},
}


def load(tmp_path: Path, item: dict[str, Any], source: str = "file") -> Config:
    documents = [
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SecretStore",
            "metadata": {"name": "src"},
            "spec": {"provider": PROVIDERS[source]},
        },
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SecretStore",
            "metadata": {"name": "dst"},
            "spec": {"permissions": "ReadWrite", "provider": {"file": {"path": "./dst"}}},
        },
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": "db-uris"},
            "spec": {"source": "src", "targets": ["dst"], "plan": [item]},
        },
    ]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump_all(documents))
    return load_config(tmp_path)


def errors(config: Config) -> list[str]:
    return [f"{error.path}: {error.message}" for error in config.errors]


def warnings(config: Config) -> list[str]:
    return [f"{warning.path}: {warning.message}" for warning in config.warnings]


URI = {
    "query": {"path": "db/", "regexp": "^db/(?P<name>[a-z]+)$", "tags": {"team": "payments"}},
    "template": "postgres://{{ value.user }}:{{ value.password }}@{{ name }}.db:5432/{{ key }}",
}


def test_a_query_with_tags_a_property_and_a_template_is_valid(tmp_path: Path) -> None:
    config = load(tmp_path, URI, source="vault")
    assert errors(config) == [] and warnings(config) == []
    item = config.jobs["db-uris"].job.spec.plan[0]
    assert item.query.tags == {"team": "payments"}
    assert load(tmp_path, {"query": {"path": "db/"}, "property": "password"}, "gcp").errors == []


@pytest.mark.parametrize(
    ("item", "path"),
    [
        ({"query": {"path": "db/", "tag": {"team": "payments"}}}, "spec.plan[0].query.tag"),
        ({"query": {"path": "db/"}, "templat": "{{ value }}"}, "spec.plan[0].templat"),
        ({"query": {"path": "db/"}, "propertie": "password"}, "spec.plan[0].propertie"),
        ({"query": {"path": "db/", "tags": {"team": 7}}}, "spec.plan[0].query.tags.team"),
        ({"query": {"path": "db/", "tags": {"": "x"}}}, "spec.plan[0].query.tags..[key]"),
    ],
)
def test_a_misspelled_or_mistyped_field_is_named_by_its_path(
    tmp_path: Path, item: dict[str, Any], path: str
) -> None:
    config = load(tmp_path, item, source="vault")
    assert "db-uris" not in config.jobs
    assert [error.path for error in config.errors] == [path]


def test_the_published_schema_knows_the_new_fields_and_sees_misspellings() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(PUBLISHED.read_text()))
    job = {
        "apiVersion": "secret-sync/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": "db-uris"},
        "spec": {"source": "a", "targets": ["b"], "plan": [URI]},
    }
    assert not list(validator.iter_errors(job))
    job["spec"]["plan"] = [{"query": {"path": "db/", "tag": {"team": "payments"}}, "templat": "x"}]
    seen = " ".join(error.message for error in validator.iter_errors(job))
    assert "'tag'" in seen and "'templat'" in seen


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ value.__class__ }}",
            "template reaches for Python internals (__class__): the sandbox refuses them",
        ),
        (
            "{{ value|attr('__globals__') }}",
            "template reaches for Python internals (__globals__): the sandbox refuses them",
        ),
        (
            "{{ value.user }}@{{ host }}",
            "template uses host, which is not among job, key, store, value or the named groups of "
            "query.regexp (name)",
        ),
    ],
)
def test_a_query_template_is_checked_like_a_compose_template(
    tmp_path: Path, template: str, message: str
) -> None:
    config = load(tmp_path, {**URI, "template": template}, source="vault")
    assert errors(config) == [f"spec.plan[0].template: {message}"]


def test_a_named_group_may_not_hide_a_template_variable(tmp_path: Path) -> None:
    item = {"query": {"regexp": "^db/(?P<value>.+)$"}, "template": "{{ value }}"}
    config = load(tmp_path, item, source="vault")
    assert len(config.errors) == 1
    assert config.errors[0].path == "spec.plan[0]"
    assert "names group(s) value, which the template variables" in config.errors[0].message


@pytest.mark.parametrize(
    ("source", "tag", "value"),
    [
        ("vault", "secret-sync.job", "db-uris"),
        ("aws", "secret-sync:job", "db-uris"),
        ("awsParameterStore", "secret-sync:managed-by", "airflow-secret-sync"),
        ("gcp", "secret_sync_job", "db-uris"),
        ("kubernetes", "app.kubernetes.io/managed-by", "airflow-secret-sync"),
        ("azureKeyVault", "secret-sync.job", "db-uris"),
    ],
)
def test_our_own_marker_is_never_a_tag_to_select_by(
    tmp_path: Path, source: str, tag: str, value: str
) -> None:
    config = load(tmp_path, {"query": {"tags": {tag: value}}}, source=source)
    assert "db-uris" not in config.jobs
    [error] = config.errors
    assert error.path == f"spec.plan[0].query.tags.{tag}"
    assert f"store 'src' ({source}) cannot select by tag {tag!r}" in error.message
    assert "ownership marker" in error.message


def test_a_label_our_marker_shares_with_others_stays_selectable_for_their_values(tmp_path: Path) -> None:
    config = load(tmp_path, {"query": {"tags": {"app.kubernetes.io/managed-by": "helm"}}}, "kubernetes")
    assert errors(config) == [] and warnings(config) == []


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("file", "it holds no tags, labels or custom metadata to select secrets by"),
        ("vault-kv1", "a KV v1 mount holds no custom_metadata to select secrets by"),
    ],
)
def test_a_store_without_tags_refuses_a_tag_query_naming_the_store(
    tmp_path: Path, source: str, why: str
) -> None:
    config = load(tmp_path, {"query": {"tags": {"team": "payments"}}}, source=source)
    kind = source.split("-")[0]
    assert errors(config) == [
        f"spec.plan[0].query.tags.team: store 'src' ({kind}) cannot select by tag 'team': {why}"
    ]


def test_parameter_store_cannot_select_an_empty_tag_value(tmp_path: Path) -> None:
    config = load(tmp_path, {"query": {"tags": {"team": ""}}}, source="awsParameterStore")
    assert errors(config) == [
        "spec.plan[0].query.tags.team: store 'src' (awsParameterStore) cannot select by tag 'team': "
        "Parameter Store's tag filters cannot ask for an empty value"
    ]
    assert errors(load(tmp_path, {"query": {"tags": {"team": ""}}}, source="aws")) == []


@pytest.mark.parametrize(
    ("source", "query", "path", "why"),
    [
        ("gcp", {"tags": {"Team": "payments"}}, "spec.plan[0].query.tags.Team", "GCP label keys start"),
        ("gcp", {"tags": {"team": "Payments"}}, "spec.plan[0].query.tags.team", "GCP label keys start"),
        ("kubernetes", {"tags": {"team": "a,b"}}, "spec.plan[0].query.tags.team", "Kubernetes label names"),
        ("aws", {"tags": {"team": "x" * 257}}, "spec.plan[0].query.tags.team", "values at most 256"),
        ("gcp", {"path": "db/"}, "spec.plan[0].query.path", "GCP secret ids allow only"),
        ("kubernetes", {"path": "DB"}, "spec.plan[0].query.path", "Secret names are DNS subdomains"),
    ],
)
def test_a_selector_that_can_match_nothing_the_store_holds_is_a_warning(
    tmp_path: Path, source: str, query: dict[str, Any], path: str, why: str
) -> None:
    config = load(tmp_path, {"query": query}, source=source)
    assert errors(config) == []
    assert "db-uris" in config.jobs
    [warning] = config.warnings
    assert warning.path == path
    assert f"of store 'src' ({source})" in warning.message and why in warning.message
    assert warning.message.endswith("the query selects nothing")


def test_a_path_some_key_can_start_with_is_no_warning(tmp_path: Path) -> None:
    for source, path in [("vault", "db/"), ("gcp", "db-"), ("kubernetes", "db"), ("aws", "team/")]:
        assert warnings(load(tmp_path, {"query": {"path": path}}, source=source)) == [], source


def test_validate_prints_warnings_and_stays_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_secret_sync.cli import main

    load(tmp_path, {"query": {"path": "db/"}}, source="gcp")
    assert main(["validate", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "warning: config.yaml: SyncJob 'db-uris': spec.plan[0].query.path: no key of store 'src'" in out
    assert "valid: 2 stores, 1 jobs, 0 errors, 1 warnings" in out
    assert main(["validate", str(tmp_path), "--output", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [warning["path"] for warning in report["warnings"]] == ["spec.plan[0].query.path"]


def test_a_tag_query_proves_no_collision_but_may_still_close_a_cycle(tmp_path: Path) -> None:
    """Which secrets carry a tag is not in the configuration: a tagged query cannot be shown to list a
    static key (no collision), but it may list one (it still links a cycle)."""
    from airflow_secret_sync.engine.config import check_job_graph

    stores = [
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"permissions": "ReadWrite", "provider": {"vault": {"connId": "v", "pathPrefix": name}}},
        }
        for name in ("a", "b")
    ]

    def job(name: str, source: str, target: str, item: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": name},
            "spec": {"source": source, "targets": [target], "plan": [item]},
        }

    tagged = {"query": {"path": "db/", "tags": {"team": "payments"}}}
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump_all(
            [
                *stores,
                job("static", "a", "b", {"secret": {"key": "db/orders"}}),
                job("tagged", "a", "b", tagged),
            ]
        )
    )
    config = load_config(tmp_path)
    check_job_graph(config)
    assert errors(config) == []

    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump_all([*stores, job("there", "a", "b", tagged), job("back", "b", "a", tagged)])
    )
    config = load_config(tmp_path)
    check_job_graph(config)
    assert len(config.errors) == 1 and "cycle" in config.errors[0].message
