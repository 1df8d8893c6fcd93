"""A task run's parse (the parsing context names one DAG) builds exactly the DAG of the full parse.

The single-DAG parse loads only the stores and the named job, so every way the rest of the folder could
shape that DAG is here: broken jobs, a job on a broken store, a loop pair, duplicate names (one of them
also refused by its own checks), a name spelled with YAML escapes, and errors owned by no job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_secret_sync.dag_factory import ERRORS_DAG_ID, build_dags

pytestmark = pytest.mark.airflow

CONTEXT_VARIABLE = "_AIRFLOW_PARSING_CONTEXT_DAG_ID"

STORES = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: src}
spec:
  provider: {file: {path: ./src}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./dst}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: left}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./left}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: broken-store}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./x}, vault: {connId: v}}
"""

# A store declared in a job's file: the single-DAG parse must find it there too.
RIGHT_STORE = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: right}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./right}}
"""


def job(name: str, source: str = "src", target: str = "dst", extra: str = "") -> str:
    return f"""
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: {name}, owner: team-{name}}}
spec:
  source: {source}
  targets: [{target}]
  plan:
    - secret: {{key: a}}
    - query: {{regexp: "^game-(.+)\\\\.token$"}}
{extra}"""


def write_folder(folder: Path) -> None:
    folder.mkdir()
    (folder / "stores.yaml").write_text(STORES)
    (folder / "good.yaml").write_text(job("good", extra='  schedule: "@daily"'))
    (folder / "good-two.yaml").write_text(job("good-two", extra="  schedule: 1h30m"))
    (folder / "broken.yaml").write_text(
        job("broken", extra="  schedule: '@hourly'\n  keyTransform: [{regexp: {source: '(', target: x}}]")
    )
    (folder / "loop.yaml").write_text(
        "---".join([job("loop-a", "left", "right"), job("loop-b", "right", "left"), RIGHT_STORE])
    )
    (folder / "uses-broken-store.yaml").write_text(job("uses-broken", target="broken-store"))
    # a double-quoted escape spells the name: no substring of the text shows it
    (folder / "escaped.yaml").write_text(job('"esc\\x61ped"'))
    (folder / "dup-1.yaml").write_text(job("dup"))
    (folder / "dup-2.yaml").write_text(job("dup", extra="  schedule: '@weekly'"))
    # "shadowed" is declared twice, so both are refused (the first would also fail its own checks)
    (folder / "shadowed-1.yaml").write_text(job("shadowed", target="src"))
    (folder / "shadowed-2.yaml").write_text(job("shadowed"))
    (folder / "not-yaml.yaml").write_text("kind: [unclosed\n")
    (folder / "unknown-kind.yaml").write_text("apiVersion: secret-sync/v1alpha1\nkind: Nope\n")
    (folder / "nameless.yaml").write_text(job("x").replace("name: x, ", ""))


def serialized(dag: Any) -> dict[str, Any]:
    from airflow.serialization.serialized_objects import DagSerialization

    result: dict[str, Any] = DagSerialization.to_dict(dag)
    return result


def test_every_dag_of_a_task_run_parse_equals_the_full_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "config"
    write_folder(folder)
    monkeypatch.delenv(CONTEXT_VARIABLE, raising=False)

    full = build_dags(folder)

    assert set(full) == {
        "good",
        "good-two",
        "broken",
        "loop-a",
        "loop-b",
        "uses-broken",
        "escaped",
        "dup",
        "shadowed",
        ERRORS_DAG_ID,
    }
    assert full["broken"].tags == full["uses-broken"].tags == full["shadowed"].tags
    assert "config-error" in full["shadowed"].tags and "duplicate name" in full["shadowed"].doc_md
    assert "config-error" not in full["loop-a"].tags and "config-error" not in full["escaped"].tags
    for dag_id, expected in full.items():
        monkeypatch.setenv(CONTEXT_VARIABLE, dag_id)

        single = build_dags(folder)

        assert list(single) == [dag_id]
        dag = single[dag_id]
        assert sorted(dag.task_ids) == sorted(expected.task_ids), dag_id
        assert (dag.schedule, dag.description, dag.doc_md, dag.tags, dag.owner) == (
            expected.schedule,
            expected.description,
            expected.doc_md,
            expected.tags,
            expected.owner,
        ), dag_id
        assert dag.params.dump() == expected.params.dump(), dag_id
        assert serialized(dag) == serialized(expected), dag_id


def test_a_task_run_parse_of_another_dag_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "config"
    write_folder(folder)
    for dag_id in ("someone-elses-dag", "document 1", "esc"):
        monkeypatch.setenv(CONTEXT_VARIABLE, dag_id)
        assert build_dags(folder) == {}


def test_tasks_load_their_job_alone_and_refuse_what_the_full_load_refuses(tmp_path: Path) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from airflow_secret_sync.engine.config import load_config
    from airflow_secret_sync.operators.sync import SecretQueryOperator

    folder = tmp_path / "config"
    write_folder(folder)
    full = load_config(folder)

    def task(job_name: str) -> SecretQueryOperator:
        return SecretQueryOperator(task_id="query", config_dir=str(folder), job_name=job_name)

    with task("loop-b").job_run() as run:
        assert list(run.config.jobs) == ["loop-b"]
        assert run.job == full.jobs["loop-b"].job
        assert run.config.stores == full.stores
    for name in ("broken", "uses-broken", "shadowed"):
        detail = "; ".join(str(error) for error in full.broken_jobs()[name])
        with pytest.raises(AirflowFailException) as refused:
            task(name).job_run()
        assert str(refused.value) == f"SyncJob {name!r} cannot be loaded: {detail}"
    with pytest.raises(AirflowFailException, match="no SyncJob named 'gone'"):
        task("gone").job_run()
