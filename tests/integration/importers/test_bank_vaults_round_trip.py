"""Round trips: bank-vaults secret-sync configs (``examples/bank-vaults/``, written in its documented format)
imported with ``secret-sync import bank-vaults``, validated, run with ``secret-sync run`` against a real file
store and OpenBao, and the targets compared with what bank-vaults' documented semantics say they hold.
"""

from __future__ import annotations

import base64
import json
import shlex
import uuid
from pathlib import Path

import pytest

from airflow_secret_sync.cli import main
from tests.fixtures.openbao import ROOT_TOKEN, OpenBaoServer, set_connection

EXAMPLES = Path(__file__).parent / "examples" / "bank-vaults"
PASSWORD = "s3cr&t<pw>"  # characters Go's JSON encoder escapes: the JSON values must still be equal
SOURCE_FILES = {
    "db-host": "primary.internal",
    "credentials/username": "alice",
    "credentials/password": PASSWORD,
    "tenant-1/db-user": "app-user-7",
    "tenant-1/db-pass": "hunter2-pass",
    "tenant-1/db-host": "db.internal",
    "tenant-1/db-port": "5432",
    "tenant-1/nested/db-replica": "replica.internal",
    "tenant-1/db-archive/notes": "matched by its folder only",
    "tenant-1/readme": "not matched",
}
VAULT_TOKEN = ROOT_TOKEN


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def write_store(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def local_store(folder: Path, store_path: str) -> Path:
    return write_store(
        folder / f"store-{store_path.replace('/', '-')}.yml",
        f"secretsStore:\n  local:\n    storePath: {store_path}\n",
    )


def vault_store(folder: Path, server: OpenBaoServer, mount: str) -> Path:
    return write_store(
        folder / "store-vault.yml",
        f"secretsStore:\n  vault:\n    address: {server.url}\n    storePath: {mount}\n"
        f"    authPath: userpass\n    token: {VAULT_TOKEN}\n",
    )


def seed_source(root: Path) -> None:
    for key, value in SOURCE_FILES.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_text(value)


def import_run(
    capsys: pytest.CaptureFixture[str], source: Path, target: Path, plan: Path, out: Path
) -> tuple[str, str]:
    """Import, check the exit code says something was left out or not, validate, run; the import's report."""
    code = main(
        [
            "import",
            "bank-vaults",
            "--source",
            str(source),
            "--target",
            str(target),
            "--sync",
            str(plan),
            "-o",
            str(out),
        ]
    )
    report, errors = capsys.readouterr()
    assert code in (0, 1), errors
    assert "does not validate" not in report
    folder = out / plan.stem
    for text in (report, errors, *(path.read_text() for path in folder.iterdir())):
        assert VAULT_TOKEN not in text, "a token was copied out of a store file"
    assert main(["validate", str(folder)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    return report, folder.as_posix()


def run_job(capsys: pytest.CaptureFixture[str], job: str, folder: str) -> list[dict[str, object]]:
    code = main(["run", job, "--config", folder, "--output", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def files_below(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".secret-sync" not in path.relative_to(root).parts
    }


def test_local_to_local_every_construct(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # bank-vaults resolves relative storePaths against the working folder
    seed_source(tmp_path / "source")
    report, folder = import_run(
        capsys,
        local_store(tmp_path, "source"),
        local_store(tmp_path, "target"),
        EXAMPLES / "local-plan.yml",
        tmp_path / "imported",
    )
    rows = run_job(capsys, "local-plan", folder)
    assert {row["action"] for row in rows} == {"create"}

    written = files_below(tmp_path / "target")
    json_keys = {"templated/map", "db/access"}
    assert {key: json.loads(value) for key, value in written.items() if key in json_keys} == {
        "templated/map": {"user": "alice", "kind": "postgres "},
        "db/access": {"type": "postgres", "username": "app-user-7", "password": "hunter2-pass"},
    }
    assert {key: value for key, value in written.items() if key not in json_keys} == {
        "credentials/username": "alice",
        "copies/password": PASSWORD,
        "templated/raw": f"b64={b64(PASSWORD)}, plain={PASSWORD} , call={b64(PASSWORD)}",
        "tenant-1/db-user": "app-user-7",
        "tenant-1/db-pass": "hunter2-pass",
        "tenant-1/db-host": "db.internal",
        "tenant-1/db-port": "5432",
        "tenant-1/nested/db-replica": "replica.internal",
        "flat-copy/username": "alice",
        "flat-copy/password": PASSWORD,
        "wrapped-username": "[alice]",
        "db/url": "postgres://alice@db.internal:5432/app",
    }
    # the untranslatable items are named with file and item path, and left out
    assert "local-plan.yml: sync[9].template.rawData: left out: 'if'" in report
    assert "local-plan.yml: sync[10].template.rawData: left out: '.Data' (the query's secrets" in report
    assert "local-plan.yml: auditLogPath: not honoured" in report
    assert "conditional" not in written and "printed-map" not in written

    # a second run changes nothing
    assert {row["action"] for row in run_job(capsys, "local-plan", folder)} == {"unchanged"}


@pytest.mark.vault
def test_local_to_vault_fields(
    tmp_path: Path,
    openbao: OpenBaoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mount = f"bv-{uuid.uuid4().hex[:8]}"
    client = openbao.client()
    client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    seed_source(tmp_path / "source")
    report, folder = import_run(
        capsys,
        local_store(tmp_path, str(tmp_path / "source")),
        vault_store(tmp_path, openbao, mount),
        EXAMPLES / "vault-plan.yml",
        tmp_path / "imported",
    )
    connect_printed(report, monkeypatch)
    run_job(capsys, "vault-plan", folder)

    def fields(path: str) -> dict[str, str]:
        data: dict[str, str] = client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount)["data"][
            "data"
        ]
        return data

    assert fields("db-host") == {"db-host": "primary.internal"}
    assert fields("app/config") == {"user": "alice", "password-b64": b64(PASSWORD)}
    assert fields("tenant-1") == {"db-user": "app-user-7", "db-pass": "hunter2-pass"}
    assert fields("copies") == {"username": "alice", "password": PASSWORD}
    access = fields("db")
    assert list(access) == ["access"]
    # the field holds compact JSON with sorted keys, the text bank-vaults writes for a map template
    assert access["access"] == '{"password":"hunter2-pass","username":"app-user-7"}'


@pytest.mark.vault
def test_vault_to_local(
    tmp_path: Path,
    openbao: OpenBaoServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mount = f"bv-{uuid.uuid4().hex[:8]}"
    client = openbao.client()
    client.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    client.secrets.kv.v2.create_or_update_secret(
        path="database/config", secret={"username": "dbadmin", "password": "p@ss-word"}, mount_point=mount
    )
    report, folder = import_run(
        capsys,
        vault_store(tmp_path, openbao, mount),
        local_store(tmp_path, str(tmp_path / "target")),
        EXAMPLES / "from-vault-plan.yml",
        tmp_path / "imported",
    )
    assert (
        "from-vault-plan.yml: sync[2].secretQuery: left out: a query on a bank-vaults Vault store" in report
    )
    connect_printed(report, monkeypatch)
    run_job(capsys, "from-vault-plan", folder)
    assert files_below(tmp_path / "target") == {
        "db/username": "dbadmin",
        "db/dsn": f"dbadmin:{b64('p@ss-word')}",
    }


def connect_printed(report: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Create the connections exactly as the printed ``airflow connections add`` commands say, with the
    placeholder replaced by the real token."""
    commands = [line for line in report.splitlines() if line.startswith("airflow connections add ")]
    assert commands
    for line in commands:
        words = shlex.split(line)
        conn_id, document = words[3], json.loads(words[words.index("--conn-json") + 1])
        assert document["password"] == "<VAULT_TOKEN>"
        document["password"] = VAULT_TOKEN
        set_connection(monkeypatch, conn_id, document)
