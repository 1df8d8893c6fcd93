"""What a person does in the Airflow UI: log in, open a sync DAG, trigger a dry run, read the audit lines.

The screenshots taken on the way are the ones in the docs (``docs/images/``): they are made here, never by
hand, so they always show the UI as it is.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.testing.airflow_stack import AirflowStack

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "docs" / "images"
JOB = "example-local-files"
STORES = ("example-app-config", "example-backup")
# The keys the job writes into its first store (see dags/secret_sync/job-local-files.yaml).
FIRST_STORE_KEYS = ("database/password", "database/owner", "database/dsn", "games/arena", "games/puzzle")


def log_in(page: Any, airflow: AirflowStack) -> None:
    """The simple auth manager's sign-in form."""
    page.goto(airflow.url + "/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(airflow.password or "")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(airflow.url + "/")


def test_trigger_a_dry_run_from_the_ui_and_read_its_audit_lines(browser: Any, airflow: AirflowStack) -> None:
    from playwright.sync_api import expect

    api = airflow.api()
    api.wait_for_dag(JOB)
    example_secrets = airflow.dags_folder / "secret_sync" / "example-secrets"
    secret_values = [path.read_text().strip() for path in example_secrets.rglob("*") if path.is_file()]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)  # actions; assertions below: a loaded CI machine renders slowly
    expect.set_options(timeout=30_000)
    log_in(page, airflow)

    # The DAG: query -> transform -> push (mapped) -> delete -> report.
    page.goto(f"{airflow.url}/dags/{JOB}")
    for task in ("query", "transform", "report"):
        expect(page.get_by_role("link", name=task, exact=True).first).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^push \[")).first).to_be_visible()

    # The trigger form, built from the DAG's params: switch dry_run on, then trigger.
    page.get_by_role("button", name="Trigger Dag").click()
    form = page.get_by_role("dialog")
    dry_run = form.get_by_role("checkbox", name="Dry run")
    expect(dry_run).not_to_be_checked()
    dry_run.locator("xpath=..").click()  # the switch's visible label; the input itself is hidden
    expect(dry_run).to_be_checked()
    expect(form.get_by_text(f"empty: all of {', '.join(STORES)}")).to_be_visible()
    form.screenshot(path=IMAGES / "airflow-trigger-form-dry-run.png")
    form.get_by_role("button", name="Trigger", exact=True).click()

    # The UI opens the new run; its outcome is also checked through the REST API.
    page.wait_for_url(re.compile(rf"/dags/{JOB}/runs/[^/]+$"))
    run_id = urllib.parse.unquote(page.url.rsplit("/runs/", 1)[1])
    run_url = f"{airflow.url}/dags/{JOB}/runs/{urllib.parse.quote(run_id)}"
    run = api.wait_for_run(JOB, run_id, timeout=90)
    instances = api.task_instances(JOB, run_id)
    assert run["conf"]["dry_run"] is True
    assert {name: ti["state"] for name, ti in instances.items()} == {
        "query": "success",
        "transform": "success",
        **{f"push[{store}]": "success" for store in STORES},
        "delete": "skipped",  # no store was pushed in parts
        "report": "success",
    }
    assert run["state"] == "success"

    # The run's graph with push [2] selected: one mapped instance per target store, named after it.
    page.reload()
    page.get_by_role("button", name=re.compile(r"^Show Graph")).click()
    expect(page.get_by_role("link", name="push [2]")).to_be_visible()
    page.goto(f"{run_url}/tasks/push/mapped")
    expect(page.get_by_role("heading", name="2 Task Instances")).to_be_visible()
    for store in STORES:
        expect(page.get_by_role("link", name=store, exact=True)).to_be_visible()
    graph = page.get_by_role("application")  # React Flow: the graph is drawn after the panel's data
    for node in ("query", "transform", "push [2]", "report"):
        expect(graph.get_by_role("link", name=node, exact=True)).to_be_in_viewport()
    page.screenshot(path=IMAGES / "airflow-graph-mapped-push.png")

    # The first store's push log, full screen and wrapped: one audit line per key, as a real run would write.
    map_index = instances[f"push[{STORES[0]}]"]["map_index"]
    page.goto(f"{run_url}/tasks/push/mapped/{map_index}")
    expect(page.get_by_role("heading", name=f"push [{STORES[0]}]")).to_be_visible()
    page.get_by_role("button", name=re.compile("fullscreen")).click()
    log = page.get_by_role("dialog")
    audit_lines = log.get_by_text("secret-sync audit", exact=True)
    expect(audit_lines).to_have_count(len(FIRST_STORE_KEYS))
    log.get_by_role("button", name="Log Settings").click()
    page.get_by_role("menuitem", name=re.compile("^Wrap")).click()
    expect(audit_lines.first).to_be_visible()
    text = log.inner_text()
    for key in FIRST_STORE_KEYS:
        assert f"targetStore={STORES[0]} targetKey={key} action=create reason=dry run: not written" in text
    assert not [value for value in secret_values if value in text]
    dialog, lines = log.bounding_box(), log.get_by_role("code").first.bounding_box()
    page.screenshot(
        path=IMAGES / "airflow-push-log-audit.png",
        clip={**dialog, "height": lines["y"] + lines["height"] + 24 - dialog["y"]},
    )

    # A dry run: no target folder holds a file.
    output = airflow.dags_folder / "secret_sync" / "example-output"
    assert not [path for path in output.rglob("*") if path.is_file()]
