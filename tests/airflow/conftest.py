"""Real DAG runs through Airflow: a metadata DB in a throwaway ``AIRFLOW_HOME``, DAGs in its dags folder.

``dag.test()`` only runs DAGs that live in a file of the configured dags folder, so each fixture writes a
two-line loader file there, next to a config folder of file stores (every value at least 12 characters, so
the masker takes them and a leak is unambiguous).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

SOURCE_SECRETS: dict[str, str] = {
    "db-password": "t-secret-db-password-1111",
    "db/creds": json.dumps({"username": "t-secret-user-2222", "password": "t-secret-creds-pass-3333"}),
    "game-arena.token": "t-secret-arena-token-4444",
    "game-puzzle.token": "t-secret-puzzle-token-5555",
}
SECRET_VALUES = [
    "t-secret-db-password-1111",
    "t-secret-user-2222",
    "t-secret-creds-pass-3333",
    "t-secret-arena-token-4444",
    "t-secret-puzzle-token-5555",
]
# Taken in the conflict job's target before any run: a secret we do not own.
FOREIGN_VALUE = "t-foreign-value-not-ours-6666"

STORES = """
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: src}
spec:
  provider: {file: {path: ./data/src}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst-a}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./data/dst-a}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst-b}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./data/dst-b}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst-ok}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./data/dst-ok}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst-taken}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./data/dst-taken}}
---
apiVersion: secret-sync/v1alpha1
kind: SecretStore
metadata: {name: dst-blocked}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./data/blocked-by-a-file}}
"""

JOBS = """
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: t-sync, owner: secops}
spec:
  source: src
  targets:
    - dst-a
    - store: dst-b
      keyTransform:
        - regexp: {source: "^", target: "copy/"}
  retry: {maxRetries: 0}
  deletionPolicy: Delete
  maxDeletes: 100%
  plan:
    - secret: {key: db-password}
      target: {key: app/db-password}
    - secret: {key: db/creds, property: username}
      target: {key: app/db-user}
    - query: {regexp: "^game-"}
      keyTransform:
        - regexp: {source: "^game-(.+)\\\\.token$", target: "games/$1"}
    - sources:
        user: {key: db/creds, property: username}
        password: {key: db/creds, property: password}
      template: "postgresql://{{ user }}:{{ password }}@db:5432/app"
      target: {key: app/dsn}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: t-parts}
spec:
  source: src
  targets: [dst-a]
  retry: {maxRetries: 0}
  deletionPolicy: Delete
  maxDeletes: 100%
  keysPerPush: 2
  plan:
    - secret: {key: db-password}
      target: {key: app/db-password}
    - secret: {key: db/creds, property: username}
      target: {key: app/db-user}
    - query: {regexp: "^game-"}
      keyTransform:
        - regexp: {source: "^game-(.+)\\\\.token$", target: "games/$1"}
    - sources:
        user: {key: db/creds, property: username}
        password: {key: db/creds, property: password}
      template: "postgresql://{{ user }}:{{ password }}@db:5432/app"
      target: {key: app/dsn}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: t-conflict}
spec:
  source: src
  targets: [dst-ok, dst-taken, dst-blocked]
  retry: {maxRetries: 0}
  plan:
    - secret: {key: db-password}
      target: {key: app/db-password}
    - secret: {key: game-arena.token}
      target: {key: app/arena-token}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: t-collide}
spec:
  source: src
  targets: [dst-a]
  retry: {maxRetries: 0}
  plan:
    - query: {regexp: "^game-"}
      keyTransform:
        - regexp: {source: "^game-.*$", target: "games/all"}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: t-retry}
spec:
  source: src
  targets: [dst-a]
  retry: {maxRetries: 2, retryInterval: 1s}
  plan:
    - secret: {key: db-password}
      target: {key: app/db-password}
    - secret: {key: no-such-key}
      target: {key: app/typo}
---
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: t-slow}
spec:
  source: src
  targets: [dst-a]
  retry: {maxRetries: 0}
  concurrency: 1
  timeouts: {task: 5s, run: 10m}
  plan:
    - secret: {key: slow-key}
      target: {key: app/slow}
    - secret: {key: db-password}
      target: {key: app/db-password}
    - secret: {key: game-arena.token}
      target: {key: app/arena-token}
"""

# What a full run of t-sync writes into dst-a (dst-b gets the same under copy/).
EXPECTED_TARGET = {
    "app/db-password": "t-secret-db-password-1111",
    "app/db-user": "t-secret-user-2222",
    "app/dsn": "postgresql://t-secret-user-2222:t-secret-creds-pass-3333@db:5432/app",
    "games/arena": "t-secret-arena-token-4444",
    "games/puzzle": "t-secret-puzzle-token-5555",
}

LOADER = """\
from pathlib import Path

from airflow_secret_sync.dag_factory import register_dags

register_dags(Path(__file__).parent / {folder!r}, globals(), errors_dag_id={errors!r})
"""


def write_loader(dags_folder: Path, name: str, config_folder: str, errors_dag_id: str) -> Path:
    loader = dags_folder / f"{name}.py"
    loader.write_text(LOADER.format(folder=config_folder, errors=errors_dag_id))
    return loader


@pytest.fixture(scope="session")
def test_config(dags_folder: Path) -> Path:
    """The jobs ``t-sync`` and ``t-conflict`` over file stores, loaded by ``secret_sync_test_dags.py``."""
    config = dags_folder / "secret_sync_test"
    config.mkdir()
    (config / "stores.yaml").write_text(STORES)
    (config / "jobs.yaml").write_text(JOBS)
    write_loader(dags_folder, "secret_sync_test_dags", "secret_sync_test", "t-config-errors")
    return config


@pytest.fixture(scope="session")
def examples_config(dags_folder: Path) -> Path:
    """A copy of the repository's example config (outputs land in the copy, not in the repository)."""
    config = dags_folder / "secret_sync_examples"
    shutil.copytree(REPO / "dags" / "secret_sync", config, ignore=shutil.ignore_patterns("example-output"))
    write_loader(dags_folder, "secret_sync_example_dags", "secret_sync_examples", "examples-config-errors")
    return config


@pytest.fixture
def stores(test_config: Path) -> Iterator[Path]:
    """Fresh store folders for one test: the seeded source, empty targets, one foreign secret, one blocker."""
    data = test_config / "data"
    if data.exists():
        shutil.rmtree(data)
    for target in ("dst-a", "dst-b", "dst-ok"):
        (data / target).mkdir(parents=True)
    for key, value in SOURCE_SECRETS.items():
        path = data / "src" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    taken = data / "dst-taken" / "app" / "db-password"
    taken.parent.mkdir(parents=True)
    taken.write_text(FOREIGN_VALUE)
    (data / "blocked-by-a-file").write_text("a file where the store's folder should be\n")
    yield data


def load_dag(loader: Path, dag_id: str) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(loader))
    assert not bag.import_errors, bag.import_errors
    return bag.dags[dag_id]


def run_dag(dags_folder: Path, loader_name: str, dag_id: str, conf: dict[str, Any] | None = None) -> Any:
    """Run one DAG with ``dag.test()`` and return its DagRun."""
    return load_dag(dags_folder / f"{loader_name}.py", dag_id).test(run_conf=conf)


def task_instances(dag_run: Any) -> dict[tuple[str, int], Any]:
    return {(ti.task_id, ti.map_index): ti for ti in dag_run.get_task_instances()}


def xcoms(dag_run: Any) -> dict[tuple[str, int, str], Any]:
    """Every XCom of the run, deserialised."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id)
        ).all()
        return {(row.task_id, row.map_index, row.key): XComModel.deserialize_value(row) for row in rows}


def files_of(folder: Path) -> dict[str, str]:
    """The secrets of a file store (its metadata sidecar left out)."""
    if not folder.exists():
        return {}
    return {
        path.relative_to(folder).as_posix(): path.read_text()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and ".secret-sync" not in path.relative_to(folder).parts
    }
