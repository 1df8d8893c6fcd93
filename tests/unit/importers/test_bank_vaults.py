"""``secret-sync import bank-vaults``: names, regexps, stores, credentials, findings and bad input."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from airflow_secret_sync.cli import main
from airflow_secret_sync.importers.bank_vaults import basename_regexp, lower_camel

TOKEN = "hvs.do-not-copy-this-token"


@pytest.mark.parametrize(
    ("name", "camel"),
    [
        ("db-user", "dbUser"),
        ("username", "username"),
        ("DB_HOST", "dbHost"),
        ("api.key", "apiKey"),
        ("App-ID", "appId"),
        ("user2name", "user2Name"),
        ("a b", "aB"),
        ("x@y", "xy"),
    ],
)
def test_template_names_are_lower_camel_case_as_bank_vaults_makes_them(name: str, camel: str) -> None:
    assert lower_camel(name) == camel


KEYS = ["db-user", "t/db-user", "t/db-archive/notes", "t/nested/db-pass", "db-x/readme", "t/DB-ONE", "t/x.db"]


@pytest.mark.parametrize(
    "expression", ["db-.*", "^db-", "db-(user|pass)", r"\S+-\S+", "[^/]b", "r$", "(?i)db", "."]
)
def test_query_regexp_matches_the_file_name_only(expression: str) -> None:
    ours = re.compile(basename_regexp(expression))
    for key in KEYS:
        name = key.rsplit("/", 1)[-1]
        assert bool(ours.search(key)) == bool(re.search(expression, name)), (expression, key)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


@pytest.fixture
def local_stores(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "src").mkdir()
    source = write(tmp_path, "source.yml", f"secretsStore:\n  local:\n    storePath: {tmp_path / 'src'}\n")
    target = write(tmp_path, "target.yml", f"secretsStore:\n  local:\n    storePath: {tmp_path / 'dst'}\n")
    return source, target


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["import", "bank-vaults", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_vault_token_becomes_a_placeholder_in_a_printed_command(
    tmp_path: Path, local_stores: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(
        tmp_path,
        "vault.yml",
        "secretsStore:\n  vault:\n    address: http://vault.example:8201\n    storePath: serviceA\n"
        f"    authPath: serviceA\n    token: {TOKEN}\n",
    )
    plan = write(tmp_path, "copy-db.yml", "sync:\n  - secretRef: {key: /database/config/username}\n")
    code, out, err = run(capsys, "-s", str(source), "-t", str(local_stores[1]), "--sync", str(plan))
    assert code == 1  # authPath is not honoured with token auth
    assert TOKEN not in out + err
    source_store, _, job = yaml.safe_load_all(out)
    assert source_store["spec"]["provider"] == {
        "vault": {"connId": "copy_db_source_vault", "mount": "serviceA", "kvVersion": 2}
    }
    assert job["spec"]["plan"] == [
        {
            "secret": {"key": "database/config", "property": "username"},
            "target": {"key": "database/config/username"},
        }
    ]
    command = next(line for line in err.splitlines() if line.startswith("airflow connections add"))
    words = shlex.split(command)
    assert words[3] == "copy_db_source_vault"
    assert json.loads(words[5]) == {
        "conn_type": "secret_sync_vault",
        "host": "vault.example",
        "port": 8201,
        "schema": "http",
        "password": "<VAULT_TOKEN>",
        "extra": {"auth_type": "token"},
    }
    assert "vault.yml: secretsStore.vault.authPath: not honoured" in err


def test_kubernetes_role_auth_needs_no_secret(
    tmp_path: Path, local_stores: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    target = write(
        tmp_path,
        "vault.yml",
        "secretsStore:\n  vault:\n    address: https://vault:8200\n    storePath: secret\n"
        "    authPath: k8s-auth\n    role: syncer\n",
    )
    plan = write(tmp_path, "p.yml", "sync:\n  - secretRef: {key: /a}\n")
    code, _, err = run(capsys, "-s", str(local_stores[0]), "-t", str(target), "--sync", str(plan))
    assert code == 0
    command = next(line for line in err.splitlines() if line.startswith("airflow connections add"))
    assert json.loads(shlex.split(command)[5])["extra"] == {
        "auth_type": "kubernetes",
        "role": "syncer",
        "auth_mount_point": "k8s-auth",
    }
    assert "<" not in command  # nothing to fill in


def test_a_token_file_is_named_in_the_connection_and_read_at_run_time(
    tmp_path: Path, local_stores: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    target = write(
        tmp_path,
        "vault.yml",
        "secretsStore:\n  vault:\n    address: https://vault:8200\n    storePath: secret\n"
        "    tokenPath: /var/run/vault/token\n",
    )
    plan = write(tmp_path, "p.yml", "sync:\n  - secretRef: {key: /a}\n")
    code, _, err = run(capsys, "-s", str(local_stores[0]), "-t", str(target), "--sync", str(plan))
    assert code == 0
    command = next(line for line in err.splitlines() if line.startswith("airflow connections add"))
    assert json.loads(shlex.split(command)[5]) == {
        "conn_type": "secret_sync_vault",
        "host": "vault",
        "port": 8200,
        "schema": "https",
        "extra": {"auth_type": "token", "token_path": "/var/run/vault/token"},
    }


def test_unknown_fields_and_refused_items_are_reported_with_their_path(
    tmp_path: Path, local_stores: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write(
        tmp_path,
        "p.yml",
        "schedule: '@daily'\nsync:\n"
        "  - secretRef: {key: /a, version: '3'}\n    targt: {key: /b}\n"
        "  - secretQuery: {path: /x, key: {regexp: a}}\n    target: {key: /one}\n"
        "  - secretRefs: {key: /c}\n",
    )
    code, out, err = run(capsys, "-s", str(local_stores[0]), "-t", str(local_stores[1]), "--sync", str(plan))
    assert code == 1
    assert "p.yml: sync[0].targt: not honoured" in err
    assert "p.yml: sync[0].secretRef.version: not honoured" in err
    assert "p.yml: sync[1]: left out: bank-vaults refuses a query with target.key unless flatten" in err
    assert "p.yml: sync[2].secretRefs: not honoured" in err
    assert "p.yml: sync[2]: left out: give exactly one of secretRef" in err
    job = list(yaml.safe_load_all(out))[2]
    assert job["spec"]["schedule"] == "@daily"
    assert job["spec"]["plan"] == [{"secret": {"key": "a"}, "target": {"key": "a"}}]


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("secretsStore:\n  aws: {region: x}\n", "source.yml: secretsStore.aws: not a store bank-vaults"),
        (
            "secretsStore:\n  local: {storePath: /a}\n  vault: {address: x, storePath: s}\n",
            "source.yml: secretsStore: give exactly one store",
        ),
        ("secretsStore:\n  local: {}\n", "source.yml: secretsStore.local.storePath: a non-empty string"),
        ("secretsStore: [\n", "source.yml: not valid YAML"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path,
    local_stores: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    store: str,
    message: str,
) -> None:
    source = write(tmp_path, "source.yml", store)
    plan = write(tmp_path, "p.yml", "sync:\n  - secretRef: {key: /a}\n")
    code, _, err = run(
        capsys,
        "-s",
        str(source),
        "-t",
        str(local_stores[1]),
        "--sync",
        str(plan),
        "-o",
        str(tmp_path / "out"),
    )
    assert code == 2
    assert message in err and "nothing was written" in err
    assert not (tmp_path / "out").exists()


def test_an_existing_job_folder_is_never_overwritten(
    tmp_path: Path, local_stores: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    plan = write(tmp_path, "p.yml", "sync:\n  - secretRef: {key: /a}\n")
    (tmp_path / "out" / "p").mkdir(parents=True)
    (tmp_path / "out" / "p" / "mine.yaml").write_text("kept")
    args = (
        "-s",
        str(local_stores[0]),
        "-t",
        str(local_stores[1]),
        "--sync",
        str(plan),
        "-o",
        str(tmp_path / "out"),
    )
    code, _, err = run(capsys, *args)
    assert code == 2 and "the folder exists and is not empty" in err
    assert sorted(path.name for path in (tmp_path / "out" / "p").iterdir()) == ["mine.yaml"]


def test_written_folder_validates_without_importing_airflow(
    tmp_path: Path, local_stores: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    import subprocess
    import sys

    plan = write(tmp_path, "my plan.yml", "sync:\n  - secretRef: {key: /a}\n    target: {key: /b}\n")
    source, target, out = str(local_stores[0]), str(local_stores[1]), str(tmp_path / "out")
    script = (
        "import sys\n"
        "from airflow_secret_sync.cli import main\n"
        f"code = main(['import', 'bank-vaults', '-s', {source!r}, '-t', {target!r},"
        f" '--sync', {str(plan)!r}, '-o', {out!r}])\n"
        "assert code == 0, code\n"
        "assert main(['validate', " + repr(str(tmp_path / "out" / "my-plan")) + "]) == 0\n"
        "assert not [name for name in sys.modules if name == 'airflow' or name.startswith('airflow.')]\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "out" / "my-plan").iterdir()) == [
        "job.yaml",
        "stores.yaml",
    ]
