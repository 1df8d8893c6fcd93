"""The JSON Schema published in the package is the models' schema; the example files point editors at it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import airflow_secret_sync
from airflow_secret_sync.engine.audit import audit_schema
from airflow_secret_sync.spec.schema import json_schema

REPO = Path(__file__).resolve().parents[3]
PUBLISHED = Path(airflow_secret_sync.__file__).parent / "schema" / "secret-sync.schema.json"
PUBLISHED_AUDIT = PUBLISHED.with_name("audit-record.schema.json")
EXAMPLES = sorted((REPO / "dags" / "secret_sync").glob("*.yaml"))
MODELINE = "# yaml-language-server: $schema="


def test_published_schema_matches_the_models() -> None:
    # Byte for byte what `secret-sync schema` prints, so regenerating it is the whole fix.
    assert PUBLISHED.read_text() == json.dumps(json_schema(), indent=2) + "\n", (
        "the published schema is stale: run "
        "`secret-sync schema > airflow_secret_sync/schema/secret-sync.schema.json`"
    )


def test_published_audit_schema_matches_the_record() -> None:
    assert PUBLISHED_AUDIT.read_text() == json.dumps(audit_schema(), indent=2) + "\n", (
        "the published audit schema is stale: run "
        "`secret-sync schema audit > airflow_secret_sync/schema/audit-record.schema.json`"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_files_point_editors_at_the_published_schema(example: Path) -> None:
    first_line = example.read_text().splitlines()[0]
    assert first_line.startswith(MODELINE)
    # yaml-language-server resolves a relative path from the YAML file's folder.
    assert (example.parent / first_line.removeprefix(MODELINE)).resolve() == PUBLISHED.resolve()


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_documents_pass_the_published_schema(example: Path) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(PUBLISHED.read_text()))
    documents = [document for document in yaml.safe_load_all(example.read_text()) if document]
    assert documents
    for document in documents:
        assert not [error.message for error in validator.iter_errors(document)]


def test_an_editor_sees_a_misspelled_field() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(PUBLISHED.read_text()))
    document = {
        "apiVersion": "secret-sync/v1alpha1",
        "kind": "SyncJob",
        "metadata": {"name": "typo"},
        "spec": {"source": "a", "targets": ["b"], "plan": [{"secret": {"key": "k"}}], "schedul": "@daily"},
    }
    assert any("schedul" in error.message for error in validator.iter_errors(document))
