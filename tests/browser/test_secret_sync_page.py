"""The Secret Sync page, its API, the metrics and ``secret-sync status`` on a real Airflow stack.

A real (not dry) run of the example job, then: the page in Chromium (inside Airflow's UI and on its own),
the API as the admin and as a user without any role (403: the simple auth manager grants DAG access by role
for all DAGs at once, so a user without a role is the one who may not read the job's DAG), the StatsD
metrics the task processes sent, and ``secret-sync status`` over the run's real log files. The example's
secret values are searched in every response: none may appear.
"""

from __future__ import annotations

import json
import secrets
import shutil
import urllib.error
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_secret_sync.cli import main
from airflow_secret_sync.testing.airflow_stack import AirflowApi, AirflowStack
from tests.browser.conftest import REPO
from tests.fixtures.statsd import StatsdListener

pytestmark = pytest.mark.e2e

IMAGES = REPO / "docs" / "images"
JOB = "example-local-files"
STORES = ("example-app-config", "example-backup")
FIRST_STORE_KEYS = ("database/password", "database/owner", "database/dsn", "games/arena", "games/puzzle")
OUTSIDER = "outsider"


@pytest.fixture(scope="module")
def statsd() -> Iterator[StatsdListener]:
    listener = StatsdListener()
    yield listener
    listener.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, statsd: StatsdListener) -> Iterator[AirflowStack]:
    root = tmp_path_factory.mktemp("page")
    dags = root / "dags"
    shutil.copytree(REPO / "dags", dags, ignore=shutil.ignore_patterns("example-output", "__pycache__"))
    with AirflowStack(
        root / "airflow",
        dags,
        password=secrets.token_urlsafe(12),
        users={OUTSIDER: ("", secrets.token_urlsafe(12))},
        env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False", **statsd.env()},
    ) as airflow:
        yield airflow


@pytest.fixture(scope="module")
def synced(stack: AirflowStack) -> dict[str, Any]:
    """The example job's real run, finished."""
    api = stack.api()
    api.wait_for_dag(JOB)
    api.unpause(JOB)
    run = api.trigger(JOB)
    return api.wait_for_run(JOB, run["dag_run_id"], timeout=120)


def secret_values(stack: AirflowStack) -> list[str]:
    folder = stack.dags_folder / "secret_sync" / "example-secrets"
    values = [path.read_text().strip() for path in folder.rglob("*") if path.is_file()]
    assert values and all(len(value) >= 5 for value in values)
    return values


def assert_value_free(stack: AirflowStack, *texts: str) -> None:
    for value in secret_values(stack):
        for text in texts:
            assert value not in text


def test_the_api_lists_the_job_and_its_keys_without_values(
    stack: AirflowStack, synced: dict[str, Any]
) -> None:
    assert synced["state"] == "success"
    api = stack.api()
    jobs = api.get("/secret-sync/api/jobs")
    job = next(job for job in jobs if job["job"] == JOB)
    assert job["lastRun"]["state"] == "success"
    assert (
        job["lastRun"]["url"]
        == f"/dags/{JOB}/runs/{synced['dag_run_id'].replace(':', '%3A').replace('+', '%2B')}"
    )
    assert job["targets"][STORES[0]] == {"failed": False, "counts": {"create": len(FIRST_STORE_KEYS)}}

    detail = api.get(f"/secret-sync/api/jobs/{JOB}")
    first = {row["key"]: row for row in detail["audit"] if row["store"] == STORES[0]}
    assert set(first) == set(FIRST_STORE_KEYS)
    assert {row["action"] for row in first.values()} == {"create"}
    assert all(
        row["logUrl"].startswith(f"/dags/{JOB}/runs/") and "/tasks/push/mapped/" in row["logUrl"]
        for row in first.values()
    )
    states = {(row["store"], row["key"]): row["state"] for row in detail["status"]}
    assert {states[(STORES[0], key)] for key in FIRST_STORE_KEYS} == {"synced"}
    assert_value_free(stack, json.dumps(jobs), json.dumps(detail))


def test_a_user_who_may_not_read_the_dag_gets_403(stack: AirflowStack, synced: dict[str, Any]) -> None:
    outsider = AirflowApi(stack.url, user=OUTSIDER, password=stack.users[OUTSIDER][1])
    outsider.login()
    for path in (f"/secret-sync/api/jobs/{JOB}", f"/secret-sync/jobs/{JOB}"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            outsider.get(path)
        assert refused.value.code == 403
        assert_value_free(stack, refused.value.read().decode(errors="replace"))
    assert outsider.get("/secret-sync/api/jobs") == []  # the list holds only the DAGs one may read
    anonymous = AirflowApi(stack.url)
    with pytest.raises(urllib.error.HTTPError) as unauthenticated:
        anonymous.get(f"/secret-sync/api/jobs/{JOB}")
    assert unauthenticated.value.code in (401, 403)


def test_the_page_in_the_airflow_ui(browser: Any, stack: AirflowStack, synced: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    from tests.browser.test_airflow_ui import log_in

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    log_in(page, stack)
    page.goto(f"{stack.url}/plugin/secret-sync")
    frame = page.frame_locator("iframe").first
    jobs = frame.get_by_role("table", name="jobs")
    row = jobs.get_by_role("row").filter(has_text=JOB)
    expect(row).to_contain_text("success")
    expect(row).to_contain_text(f"{STORES[0]}: ok (create {len(FIRST_STORE_KEYS)})")
    page.screenshot(path=IMAGES / "secret-sync-page-jobs.png")
    listing = jobs.inner_text()

    frame.get_by_role("link", name=JOB, exact=True).click()
    audit = frame.get_by_role("table", name="audit")
    for key in FIRST_STORE_KEYS:
        expect(audit.get_by_role("row").filter(has_text=key).first).to_contain_text("create")
    status = frame.get_by_role("table", name="status")
    expect(status.get_by_role("row").filter(has_text="database/password").first).to_contain_text("synced")
    page.screenshot(path=IMAGES / "secret-sync-page-job.png", full_page=True)
    assert_value_free(stack, listing, audit.inner_text(), status.inner_text(), page.content())

    # the outsider signs in, and the job's page refuses them
    outsider = browser.new_page()
    outsider.goto(stack.url + "/")
    outsider.get_by_label("Username").fill(OUTSIDER)
    outsider.get_by_label("Password").fill(stack.users[OUTSIDER][1])
    outsider.get_by_role("button", name="Sign in").click()
    outsider.wait_for_url(stack.url + "/")
    response = outsider.goto(f"{stack.url}/secret-sync/jobs/{JOB}")
    assert response is not None and response.status == 403
    assert_value_free(stack, outsider.content())


def test_the_task_processes_send_metrics(statsd: StatsdListener, synced: dict[str, Any]) -> None:
    found = statsd.wait_for("secret_sync.keys", job=JOB, store=STORES[0], action="create")
    assert sum(metric.value for metric in found) == len(FIRST_STORE_KEYS)
    assert statsd.wait_for("secret_sync.managed_keys", job=JOB, store=STORES[0])[-1].value == len(
        FIRST_STORE_KEYS
    )
    assert statsd.wait_for("secret_sync.provider.calls", job=JOB, provider="file", operation="write")
    sent = "\n".join(statsd.lines)
    for key in FIRST_STORE_KEYS:
        assert key not in sent


def test_status_reads_the_real_push_logs(
    stack: AirflowStack, synced: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    config = stack.dags_folder / "secret_sync"
    code = main(["status", "-c", str(config), "--logs", str(stack.home / "logs"), "--job", JOB, "-o", "json"])
    out = capsys.readouterr().out
    rows = {(row["store"], row["key"]): row for row in json.loads(out)}
    assert code == 0
    for key in FIRST_STORE_KEYS:
        row = rows[(STORES[0], key)]
        assert (row["state"], row["lastAction"], row["run"]) == ("synced", "create", synced["dag_run_id"])
        assert row["lastSync"]
    assert_value_free(stack, out)
