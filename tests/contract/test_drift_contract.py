"""Drift detection behaves alike on every store kind: the value hash in the marker survives each provider's
metadata, and the five classes, Revert and Adopt come out the same."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.engine.audit import Action
from airflow_secret_sync.engine.drift import check_drift
from airflow_secret_sync.engine.file_store import FileSecretStore
from airflow_secret_sync.engine.installation import Installation
from airflow_secret_sync.engine.plan import TargetPlan, map_targets, resolve_sources
from airflow_secret_sync.engine.store import Marker, SecretStoreBackend
from airflow_secret_sync.engine.sync import SyncOptions, push_target
from airflow_secret_sync.engine.values import to_kind
from airflow_secret_sync.spec.models import DriftAction, SyncJob

INSTALLATION = Installation("contract", b"contract-hash-key")
VALUES = {"alpha": "alpha-value-1", "beta": "beta-value-1", "gamma": "gamma-value-1", "delta": "delta-1"}


def make_job(pattern: str) -> SyncJob:
    return SyncJob.model_validate(
        {
            "apiVersion": "secret-sync/v1alpha1",
            "kind": "SyncJob",
            "metadata": {"name": "drifting"},
            "spec": {
                "source": "src",
                "targets": ["t"],
                "conflictPolicy": "Skip",
                "drift": {"action": "Report"},
                "plan": [{"query": {"regexp": pattern}}],
            },
        }
    )


def plan_of(job: SyncJob, source: SecretStoreBackend) -> TargetPlan:
    resolved = resolve_sources(job, {"src": source})
    return map_targets(job, resolved, key_problem=lambda store, key: None, targets=["t"])["t"]


def classes(job: SyncJob, source: SecretStoreBackend, store: SecretStoreBackend, **kw: Any) -> dict[str, Any]:
    report = check_drift(job, plan_of(job, source), store, {"src": source}, INSTALLATION, **kw)
    assert report.error is None
    return {record.target_key: (record.drift.value, record.action.value) for record in report.records}


def hand_write(store: SecretStoreBackend, key: str, value: str, marker: Marker | None = None) -> None:
    """A change out of band: a new value under the marker the secret already has (or ``marker``)."""
    current = store.read(key)
    kept = marker or (current.marker if current is not None else None)
    assert kept is not None
    expected = current.version if current is not None else None
    store.write(key, to_kind(value, store.value_kind), kept, expected_version=expected)


@pytest.fixture
def source(tmp_path: Path) -> FileSecretStore:
    (tmp_path / "src").mkdir(mode=0o700)
    for key, value in {**VALUES, "epsilon": "epsilon-value-1"}.items():
        (tmp_path / "src" / key).write_text(value)
    return FileSecretStore(tmp_path / "src")


def test_five_classes_then_revert_and_adopt(store: SecretStoreBackend, source: FileSecretStore) -> None:
    everything = make_job("^(alpha|beta|gamma|delta)$")
    pushed = push_target(
        everything,
        plan_of(everything, source),
        store,
        {"src": source},
        SyncOptions(installation=INSTALLATION),
    )
    assert not pushed.failed
    hand_write(store, "beta", "beta-changed-by-hand")
    store.delete("gamma")
    hand_write(store, "epsilon", "someone-elses", Marker(job="other-job", source_store="x", source_key="y"))
    # written by this job through another store document on the same backend: that document's to check
    twin = Marker(
        job="drifting", source_store="src", source_key="zeta", installation="contract", target_store="u"
    )
    hand_write(store, "zeta", "written-through-u", twin)
    narrowed = make_job("^(alpha|beta|gamma|epsilon)$")  # delta's item is gone: orphaned

    assert classes(narrowed, source, store) == {
        "alpha": ("in-sync", "unchanged"),
        "beta": ("changed", "skip"),
        "gamma": ("missing", "skip"),
        "delta": ("orphaned", "skip"),
        "epsilon": ("foreign", "skip"),
    }
    assert store.read("gamma") is None  # Report wrote nothing

    reverted = classes(narrowed, source, store, action=DriftAction.REVERT)
    assert reverted["beta"] == ("changed", Action.UPDATE.value)
    assert reverted["gamma"] == ("missing", Action.CREATE.value)
    record = store.read("beta")
    assert record is not None and record.value == to_kind(VALUES["beta"], store.value_kind)

    hand_write(store, "alpha", "alpha-rotated-in-place")
    assert classes(narrowed, source, store, action=DriftAction.ADOPT)["alpha"] == ("changed", "adopt")
    after = classes(narrowed, source, store)
    assert {key: drift for key, (drift, _) in after.items()} == {
        "alpha": "in-sync",
        "beta": "in-sync",
        "gamma": "in-sync",
        "delta": "orphaned",
        "epsilon": "foreign",
    }


def test_another_hash_key_reads_unknown(store: SecretStoreBackend, source: FileSecretStore) -> None:
    job = make_job("^alpha$")
    push_target(job, plan_of(job, source), store, {"src": source}, SyncOptions(installation=INSTALLATION))
    rotated = Installation("contract", b"another-key")
    report = check_drift(job, plan_of(job, source), store, {"src": source}, rotated)
    assert [(record.target_key, record.drift.value) for record in report.records if record.drift] == [
        ("alpha", "unknown")
    ]
