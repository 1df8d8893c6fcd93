"""The "Secret Sync" page: a FastAPI app under the API server and an external view in Airflow's menu.

Airflow 3 plugins add server routes with ``fastapi_apps`` and UI entries with ``external_views``; the view
shows our page inside the Airflow UI, whose session cookie authenticates its requests. Authorization is
Airflow's auth manager: the job list holds only the DAGs the user may read, and a job the user may not read
answers 403. Everything shown is names, versions, counts and states (see :mod:`.page_data`).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from airflow_secret_sync.plugins import page_data

URL_PREFIX = "/secret-sync"

app = FastAPI(title="Secret Sync", description="Value-free status of the secret sync jobs.")


def _log_folder() -> Path:
    return Path(conf.get("logging", "base_log_folder")).expanduser()


def _readable_jobs(session: Any, user: Any) -> list[dict[str, Any]]:
    # the auth manager of the API server: a plugin's app has none in its own state
    allowed = get_auth_manager().get_authorized_dag_ids(user=user, method="GET")
    return [
        page_data.job_summary(session, dag_id)
        for dag_id in page_data.job_dag_ids(session)
        if dag_id in allowed
    ]


@app.get("/api/jobs")
def list_jobs(session: SessionDep, user: GetUserDep) -> list[dict[str, Any]]:
    """The jobs the user may read: schedule, next run, last run and its per-target counts."""
    return _readable_jobs(session, user)


@app.get("/api/jobs/{dag_id}", dependencies=[Depends(requires_access_dag("GET"))])
def get_job(dag_id: str, session: SessionDep) -> dict[str, Any]:
    """One job: its summary, the last run's audit rows and each key's status; 403 without read access."""
    return page_data.job_detail(session, dag_id, _log_folder())


@app.get("/", response_class=HTMLResponse)
def jobs_page(session: SessionDep, user: GetUserDep) -> str:
    rows = [
        [
            _link(f"{URL_PREFIX}/jobs/{job['job']}", job["job"]),
            _text(job["schedule"]),
            _text(job["nextRun"]),
            _link(job["lastRun"]["url"], job["lastRun"]["state"], top=True) if job["lastRun"] else "",
            "<br>".join(
                _text(f"{store}: {_counts(target)}") for store, target in sorted(job["targets"].items())
            ),
        ]
        for job in _readable_jobs(session, user)
    ]
    body = _table("jobs", ["Job", "Schedule", "Next run", "Last run", "Targets (last run)"], rows)
    return _page("Secret Sync", body)


@app.get("/jobs/{dag_id}", response_class=HTMLResponse, dependencies=[Depends(requires_access_dag("GET"))])
def job_page(dag_id: str, session: SessionDep) -> str:
    job = page_data.job_detail(session, dag_id, _log_folder())
    audit = [
        [
            _text(row["store"]),
            _text(row["key"]),
            _text(row["action"]),
            _text(row["reason"]),
            _text(row["sourceVersion"]),
            _text(row["targetVersion"]),
            _link(row["logUrl"], "log", top=True),
        ]
        for row in job["audit"]
    ]
    status = [
        [
            _text(row["store"]),
            _text(row["key"]),
            _text(row["state"]),
            _text(row["drift"]),
            _text(row["lastAction"]),
            _text(row["lastSync"]),
            _text(row["sourceVersion"]),
            _text(row["targetVersion"]),
        ]
        for row in job["status"]
    ]
    last = job["lastRun"]
    body = (
        f"<p>{_link(URL_PREFIX + '/', 'All jobs')} · schedule {_text(job['schedule'])} · next run "
        f"{_text(job['nextRun'])} · last run "
        f"{_link(last['url'], last['state'] + ' ' + last['runId'], top=True) if last else 'none'}</p>"
        "<h2>Last run</h2>"
        + _table(
            "audit",
            ["Store", "Key", "Action", "Reason", "Source version", "Target version", "Task log"],
            audit,
        )
        + "<h2>Status per key</h2>"
        + _table(
            "status",
            [
                "Store",
                "Key",
                "State",
                "Drift",
                "Last action",
                "Last sync",
                "Source version",
                "Target version",
            ],
            status,
        )
    )
    return _page(f"Secret Sync: {dag_id}", body)


def _text(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _link(href: str, text: str, *, top: bool = False) -> str:
    # Airflow's own pages open in the whole window, not inside the view's frame
    target = ' target="_top"' if top else ""
    return f'<a href="{html.escape(href)}"{target}>{_text(text)}</a>'


def _counts(target: dict[str, Any]) -> str:
    counts = ", ".join(f"{action} {count}" for action, count in target["counts"].items())
    return ("FAILED " if target["failed"] else "ok ") + (f"({counts})" if counts else "(no keys)")


def _table(name: str, headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_text(header)}</th>" for header in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not rows:
        body = f'<tr><td colspan="{len(headers)}">nothing yet</td></tr>'
    return f'<table aria-label="{name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{_text(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{_text(title)}</h1>{body}</body></html>"
    )


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1a202c}"
    "table{border-collapse:collapse;margin-bottom:1.5rem}"
    "th,td{border:1px solid #cbd5e0;padding:.3rem .6rem;text-align:left;font-size:.9rem}"
    "th{background:#edf2f7}"
)


class SecretSyncPlugin(AirflowPlugin):
    """The Secret Sync page in Airflow's navigation, served by the API server."""

    name = "secret_sync"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Secret Sync"}]
    external_views = [
        {
            "name": "Secret Sync",
            "href": f"{URL_PREFIX}/",
            "url_route": "secret-sync",
            "destination": "nav",
            "category": "browse",
        }
    ]
