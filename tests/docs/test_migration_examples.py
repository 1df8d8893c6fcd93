"""docs/migration.md's worked examples are what the importer really writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_secret_sync.cli import main

PAGE = Path(__file__).resolve().parents[2] / "docs" / "migration.md"


def titled_blocks() -> dict[str, str]:
    """The fenced code blocks of the page that carry a ``title``, by title."""
    text = PAGE.read_text()
    return {
        match.group(1): match.group(2)
        for match in re.finditer(r'^```\w+ title="([^"]+)"\n(.*?)^```$', text, re.MULTILINE | re.DOTALL)
    }


def test_bank_vaults_worked_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = titled_blocks()
    secrets = tmp_path / "example-secrets"
    secrets.mkdir()
    for name in ("db-host", "db-user", "db-pass"):
        (secrets / name).write_text("x")
    monkeypatch.chdir(tmp_path)
    for name in ("local-store.yml", "vault-store.yml", "db-secrets.yml"):
        Path(name).write_text(blocks[name].replace("/srv/example-secrets", str(secrets)))
    args = ["--source", "local-store.yml", "--target", "vault-store.yml", "--sync", "db-secrets.yml"]
    assert main(["import", "bank-vaults", *args, "-o", "imported"]) == 1
    report, summary = capsys.readouterr()
    assert Path("imported/db-secrets/job.yaml").read_text() == blocks["imported/db-secrets/job.yaml"]
    documented = PAGE.read_text().split(
        "$ secret-sync import bank-vaults " + " ".join(args) + " -o imported\n"
    )[1]
    assert documented.split("```", 1)[0] == report + summary


def test_push_secret_worked_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = titled_blocks()
    monkeypatch.chdir(tmp_path)
    Path("push.yaml").write_text(blocks["push.yaml"])
    assert main(["import", "push-secret", "push.yaml", "-o", "imported"]) == 1
    report, _ = capsys.readouterr()
    job = "imported/payments-db-credentials/job.yaml"
    assert Path(job).read_text() == blocks[job]
    documented = PAGE.read_text().split("$ secret-sync import push-secret push.yaml -o imported\n", 1)[1]
    documented = documented.split("```", 1)[0]
    assert report.startswith(documented)
