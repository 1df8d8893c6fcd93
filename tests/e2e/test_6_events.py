"""Scenario 6: event-driven sync (docs/events.md) on the real stack, triggerer included.

A source file changes; nobody triggers anything. The change trigger in the triggerer sees it, Airflow
starts the job's DAG from the asset event, the run syncs the changed key only, and the push's own asset
event starts the downstream DAG scheduled on ``secret-sync://vault-events/file-on-change``.
"""

from __future__ import annotations

import json
import urllib.error
from typing import Any

from tests.e2e.environment import E2E, FILE_EVENTS, wait_until

JOB = "file-on-change"
DOWNSTREAM = "events-downstream"
TARGET_URI = "secret-sync://vault-events/file-on-change"


def asset_id(e2e: E2E, uri_prefix: str) -> int | None:
    assets = e2e.api.get("/api/v2/assets", uri_pattern=uri_prefix)["assets"]
    found = [asset for asset in assets if asset["uri"].startswith(uri_prefix)]
    return found[0]["id"] if found else None


def cursor_saved(e2e: E2E) -> bool:
    """Whether the change trigger has taken its first look (its cursor is in the asset's state store)."""
    found = asset_id(e2e, "secret-sync-changes://file-on-change")
    if found is None:
        return False
    try:
        e2e.api.get(f"/api/v2/assets/{found}/state-store/cursor")
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return False
        raise
    return True


def runs(e2e: E2E, dag_id: str) -> list[dict[str, Any]]:
    return list(e2e.api.get(f"/api/v2/dags/{dag_id}/dagRuns", order_by="-run_after")["dag_runs"])


def test_a_source_change_reaches_the_target_through_the_triggerer_and_starts_the_downstream_dag(
    e2e: E2E,
) -> None:
    e2e.api.unpause(DOWNSTREAM)
    wait_until(lambda: cursor_saved(e2e), 90, "the change trigger's first look")
    assert runs(e2e, JOB) == [], "nothing changed yet: no run"

    new_value = "e2e-event-alpha-changed-q1w2e3"
    e2e.remember(new_value)
    (e2e.work / "stores" / "file-events" / "svc" / "alpha").write_text(new_value)

    synced = wait_until(
        lambda: e2e.vault_secrets("events/").get("svc/alpha"), 90, "the change to reach vault-events"
    )
    assert synced["data"] == {"value": new_value}
    # a partial run: the unchanged key was not synced (the job has no schedule, so it never ran in full)
    assert "svc/beta" not in e2e.vault_secrets("events/")
    started = runs(e2e, JOB)
    assert [run["run_type"] for run in started] == ["asset_triggered"]
    assert e2e.wait(JOB, started[0]["dag_run_id"]).state == "success"

    downstream = wait_until(lambda: runs(e2e, DOWNSTREAM), 60, "the downstream DAG to start")
    assert downstream[0]["run_type"] == "asset_triggered"
    target = asset_id(e2e, TARGET_URI)
    events = e2e.api.get("/api/v2/assets/events", asset_id=target)["asset_events"]
    assert len(events) == 1
    extra = events[0]["extra"]
    assert extra["keys"] == ["svc/alpha"]
    assert extra["versions"] == {"svc/alpha": str(synced["version"])}
    assert extra["counts"]["create"] == 1
    text = json.dumps(events)
    assert new_value not in text and not any(value in text for value in FILE_EVENTS.values())
