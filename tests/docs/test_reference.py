"""The YAML reference in docs/ is generated from the models: it must match them."""

from __future__ import annotations

from pathlib import Path

from airflow_secret_sync.spec.reference import render_reference

REFERENCE = Path(__file__).parents[2] / "docs" / "reference.md"


def test_reference_matches_the_models() -> None:
    assert REFERENCE.read_text() == render_reference(), (
        "docs/reference.md is stale: run `python -m airflow_secret_sync.spec.reference > docs/reference.md`"
    )


def test_reference_documents_every_sync_job_field() -> None:
    text = REFERENCE.read_text()
    for field in ("conflictPolicy", "deletionPolicy", "maxDeletes", "keyTransform", "concurrency"):
        assert f"| `{field}` |" in text
