"""Scenario 5: bad input refused. Every broken configuration of the corpus (the unit corpus in
``tests/unit/spec/invalid/`` plus the cases in ``invalid/`` here) makes ``secret-sync validate`` exit 2 with
a message naming the file, the document and the field; in Airflow, the good jobs of a folder still load and
run while each broken job's error shows on its placeholder DAG."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from airflow_secret_sync.cli import main
from tests.e2e.environment import BIN, BROKEN_ERRORS_DAG, E2E, FILE_SEED
from tests.unit.spec.test_invalid_corpus import CASES, INVALID

HERE = Path(__file__).parent / "invalid"
# Cases of this suite: (field path, part of the message). Every one is a single-file case.
E2E_CASES = {
    "value-template-python-internals.yaml": (
        "spec.plan[0].template",
        "template reaches for Python internals (__class__, __mro__, __subclasses__)",
    ),
    "template-fields-attr-filter.yaml": (
        "spec.plan[0].templateFields.escape",
        "template reaches for Python internals (__globals__)",
    ),
    "key-template-globals.yaml": (
        "spec.plan[0].keyTransform[0].template",
        "template reaches for Python internals (__globals__, __init__)",
    ),
    "aws-invalid-target-key.yaml": ("spec.plan[0]", "target key 'db password!' is not valid in store 'aws'"),
    "store-unknown-field.yaml": ("spec.provider.vault.mountt", "unknown field"),
}
ALL_CASES = [
    (INVALID / name, expected.path, expected.message, expected.file) for name, expected in CASES.items()
]
ALL_CASES += [(HERE / name, path, message, None) for name, (path, message) in E2E_CASES.items()]


def test_the_corpus_is_large_and_complete() -> None:
    assert len(ALL_CASES) >= 30
    assert {path.name for path in HERE.iterdir()} == set(E2E_CASES)


@pytest.mark.parametrize(("case", "path", "message", "file"), ALL_CASES, ids=[c[0].name for c in ALL_CASES])
def test_validate_refuses_it_naming_file_document_and_field(
    case: Path, path: str, message: str, file: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(case), "--output", "json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert not report["valid"]
    assert len(report["errors"]) == 1, report["errors"]
    error = report["errors"][0]
    named = Path(file).name if file else case.name
    assert Path(error["file"]).name == named
    assert error["path"] == path
    message = message.replace(f"{case.name}/", "")  # a folder case: file names are relative to it
    assert message in error["message"]
    if path:  # an error inside a document names the document; a file that is not YAML has none to name
        assert error["name"] or error["kind"]

    assert main(["validate", str(case)]) == 2
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith(error["file"] + ": ")
    assert (f"{path}: " in line) if path else True
    assert message in line


def test_the_console_script_exits_2() -> None:
    """The installed command, once, on the sandbox-escape cases together."""
    cases = [HERE / "value-template-python-internals.yaml", INVALID / "key-template-python-internals.yaml"]
    for case in cases:
        done = subprocess.run(
            [str(BIN / "secret-sync"), "validate", str(case)], capture_output=True, text=True
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert "SyncJob 'broken': spec.plan" in done.stdout
        assert "__class__" in done.stdout


def test_airflow_loads_the_good_jobs_and_shows_the_broken_ones(e2e: E2E) -> None:
    dags = {dag["dag_id"]: dag for dag in e2e.api.get("/api/v2/dags", limit=100)["dags"]}
    tags = {dag_id: {tag["name"] for tag in dag["tags"]} for dag_id, dag in dags.items()}
    assert "config-error" not in tags["still-good"]
    for placeholder in ("sandbox-escape", "uses-broken-store", BROKEN_ERRORS_DAG):
        assert {"secret-sync", "config-error"} <= tags[placeholder], placeholder
    # no DAG file failed to import: one broken document never hides the others
    errors = e2e.api.get("/api/v2/importErrors")["import_errors"]
    assert errors == [], errors

    escape = dags["sandbox-escape"]["description"]
    assert escape.startswith(
        "Configuration error: jobs.yaml: SyncJob 'sandbox-escape': spec.plan[0].template: "
    )
    assert "Python internals" in escape
    assert dags["sandbox-escape"]["timetable_summary"] == "0 0 * * *"  # the broken job keeps its schedule
    assert "SecretStore 'bi-vault' is declared but invalid" in dags["uses-broken-store"]["description"]
    details = e2e.api.get(f"/api/v2/dags/{BROKEN_ERRORS_DAG}/details")
    assert "not-yaml.yaml: invalid YAML" in details["doc_md"]
    assert (
        "stores.yaml: SecretStore 'bi-vault': spec.provider.vault.mountt: unknown field" in details["doc_md"]
    )
    e2e.capture(
        "bad-input-dags.json", json.dumps([dags[name] for name in ("sandbox-escape", "uses-broken-store")])
    )

    for dag_id in ("still-good", "sandbox-escape"):
        e2e.api.unpause(dag_id)
    good, placeholder = e2e.run_all([("still-good", None), ("sandbox-escape", None)])
    assert good.state == "success", good.states()
    written = e2e.work / "stores" / "bi-dst"
    assert {
        p.relative_to(written).as_posix(): p.read_text()
        for p in written.rglob("*")
        if p.is_file() and ".secret-sync" not in p.parts
    } == {k: v for k, v in FILE_SEED.items() if k.startswith("app/")}
    assert placeholder.state == "failed"
    log = json.dumps(e2e.task_log(placeholder, "config_error"))
    assert "Secret sync configuration is broken" in log and "template reaches for Python internals" in log
    assert not (written / "pwned").exists()
