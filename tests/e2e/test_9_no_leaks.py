"""Scenario 3: no leaks. After every other scenario, no secret value used anywhere in the suite appears in
the metadata DB file (every table), any task log file, or the captured output of any process or command:
not plain, not JSON-escaped, not base64. (Runs last: the file name sorts after the other scenarios.)"""

from __future__ import annotations

from pathlib import Path

from tests.e2e.environment import E2E, leak_forms


def scanned_files(e2e: E2E) -> list[Path]:
    # the Airflow home: metadata DB, task and DAG-processor logs, each Airflow process's output, DAG files
    files = [path for path in e2e.stack.home.rglob("*") if path.is_file()]
    files += list(e2e.work.glob("*.log"))  # OpenBao, moto and the GCP emulator
    files += e2e.captured  # secret-sync commands, REST answers kept by the scenarios
    return files


def test_no_secret_value_anywhere(e2e: E2E) -> None:
    values = sorted(e2e.values)
    assert len(values) >= 150
    files = scanned_files(e2e)
    home = e2e.stack.home
    names = {path.relative_to(home).as_posix() if path.is_relative_to(home) else path.name for path in files}
    assert "airflow.db" in names
    assert {"api-server.log", "scheduler.log", "dag-processor.log"} <= names
    assert sum(1 for path in files if path.name.startswith("attempt=")) >= 60
    assert any(name.startswith("logs/dag_processor/") for name in names)

    leaks = []
    for path in files:
        data = path.read_bytes()
        for value in values:
            for form, needle in leak_forms(value).items():
                at = data.find(needle)
                if at >= 0:
                    leaks.append(f"{path} @{at}: {form} form of a value starting {value[:6]!r}")
    assert not leaks, "secret values found:\n" + "\n".join(leaks)
