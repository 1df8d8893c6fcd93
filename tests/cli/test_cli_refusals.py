"""``secret-sync`` refuses bad flags and any invalid document a run would use: exit 2, nothing written.

Run through the installed console script, as a user runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "secret-sync"
VALUE = "db-password-value-0001"

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
"""


def job(name: str, key: str = "db-password") -> str:
    return f"""
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {{name: {name}}}
spec:
  source: src
  targets: [dst]
  plan:
    - secret: {{key: {key}}}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "db-password").write_text(VALUE)
    (tmp_path / "stores.yaml").write_text(STORES)
    (tmp_path / "sync.yaml").write_text(job("sync"))
    return tmp_path


def secret_sync(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "300"},
        timeout=120,
        check=False,
    )
    assert VALUE not in done.stdout + done.stderr
    return done


def assert_refused(done: subprocess.CompletedProcess[str], config: Path, *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    for text in expected:
        assert text in done.stderr
    assert not (config / "dst").exists(), "something was written"


def test_version_is_the_installed_distributions() -> None:
    done = secret_sync("--version")
    assert (done.returncode, done.stdout) == (0, f"secret-sync {metadata.version('airflow-secret-sync')}\n")


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(", "--keys: invalid regular expression '(': missing ): ("),
        (
            "^(?!internal/)",
            "--keys: invalid regular expression '^(?!internal/)': invalid perl operator: (?!; "
            "RE2 syntax is required",
        ),
    ],
)
def test_a_bad_keys_pattern_is_a_usage_error_naming_the_flag(config: Path, pattern: str, reason: str) -> None:
    done = secret_sync("run", "-c", str(config), "sync", "--keys", pattern)
    assert_refused(done, config, reason)
    assert "reading the source failed" not in done.stderr


def test_an_unknown_target_is_a_usage_error_naming_the_flag(config: Path) -> None:
    done = secret_sync("plan", "-c", str(config), "sync", "--targets", "dst,nope")
    assert_refused(done, config, "--targets: not targets of job 'sync': nope (targets: dst)")


def test_a_missing_config_folder_is_a_usage_error_naming_the_flag(tmp_path: Path) -> None:
    done = secret_sync("run", "-c", str(tmp_path / "nope"), "sync")
    assert_refused(done, tmp_path, f"--config {tmp_path / 'nope'}: no such file or folder")


@pytest.mark.parametrize("command", ["run", "plan"])
def test_a_job_declared_in_two_files_is_refused_naming_both(config: Path, command: str) -> None:
    (config / "sync-copy.yaml").write_text(job("sync", key="other-key"))
    done = secret_sync(command, "-c", str(config), "sync")
    assert_refused(
        done,
        config,
        "job 'sync' is refused, nothing was written",
        "sync.yaml: SyncJob 'sync': metadata.name: duplicate name: also declared in sync-copy.yaml",
    )


def test_validate_lists_a_duplicate_name_among_no_valid_job(config: Path) -> None:
    (config / "sync-copy.yaml").write_text(job("sync", key="other-key"))
    done = secret_sync("validate", str(config), "--output", "json")
    result = json.loads(done.stdout)
    assert (done.returncode, result["valid"], result["jobs"]) == (2, False, [])
    assert [(error["file"], error["name"], error["path"]) for error in result["errors"]] == [
        ("sync.yaml", "sync", "metadata.name")
    ]
    assert result["errors"][0]["message"].startswith("duplicate name: also declared in sync-copy.yaml")


def test_a_store_declared_twice_refuses_the_jobs_that_use_it(config: Path) -> None:
    (config / "more-stores.yaml").write_text(STORES.split("---")[1])
    done = secret_sync("run", "-c", str(config), "sync")
    assert_refused(
        done,
        config,
        "stores.yaml: SecretStore 'dst': metadata.name: duplicate name: also declared in more-stores.yaml",
        "sync.yaml: SyncJob 'sync': spec.targets[0]: SecretStore 'dst' is declared but invalid",
    )


def test_a_file_that_is_not_yaml_refuses_the_run_when_it_names_the_job(config: Path) -> None:
    # a broken file about another job does not concern this one
    (config / "other.yaml").write_text(job("other").replace("plan:", "plan: [unclosed"))
    assert secret_sync("plan", "-c", str(config), "sync").returncode == 0
    # a half-edited copy of the job may declare 'sync' again: which one is meant is unknown
    (config / "sync-new.yaml").write_text(job("sync").replace("plan:", "plan: [unclosed"))
    done = secret_sync("run", "-c", str(config), "sync")
    assert_refused(done, config, "sync-new.yaml: invalid YAML: line ")
    assert "other.yaml" not in done.stderr


def test_a_document_of_an_unknown_kind_named_like_a_store_it_uses_refuses_the_run(config: Path) -> None:
    (config / "typo.yaml").write_text(STORES.split("---")[1].replace("kind: SecretStore", "kind: SecretStor"))
    done = secret_sync("run", "-c", str(config), "sync")
    assert_refused(done, config, "typo.yaml: document 'dst': kind: unknown kind 'SecretStor'")


def test_validate_refuses_jobs_that_collide_or_send_a_key_back(config: Path) -> None:
    stores = config / "stores.yaml"
    stores.write_text(
        stores.read_text().replace(
            "provider: {file: {path: ./src}}", "permissions: ReadWrite\n  provider: {file: {path: ./src}}"
        )
    )
    back = job("back", key="db-password").replace("source: src", "source: dst").replace("[dst]", "[src]")
    (config / "more.yaml").write_text(job("same-key") + "\n---\n" + back)  # 'sync' writes dst:db-password
    done = secret_sync("validate", str(config))
    assert done.returncode == 2
    assert (
        "sync.yaml: SyncJob 'sync': spec.plan[0]: target collision: job 'same-key' (spec.plan[0]) and job "
        "'sync' (spec.plan[0]) both write key 'db-password' of store 'dst'" in done.stdout
    )
    assert (
        "more.yaml: SyncJob 'back': spec.plan[0]: cycle: a key can travel src -> dst (job 'sync', "
        "spec.plan[0]) -> src (job 'back', spec.plan[0]), back into store 'src' it came from (jobs 'sync', "
        "'back')" in done.stdout
    )


def test_a_hostile_template_fails_its_key_alone_and_fast(config: Path) -> None:
    hostile = """
    - sources: {pw: {key: db-password}}
      template: '{{ pw }}{{ "x" * 400000000 }}'
      target: {key: bomb}
"""
    (config / "sync.yaml").write_text(job("sync") + hostile)
    done = secret_sync("run", "-c", str(config), "sync", "--output", "json")
    assert done.returncode == 1
    rows = {row["targetKey"]: row for row in json.loads(done.stdout)}
    assert rows["db-password"]["action"] == "create"
    assert rows["bomb"]["action"] == "error"
    assert rows["bomb"]["reason"] == (
        "spec.plan[1].template '{{ pw }}{{ \"x\" * 400000000 }}': template stopped: the result of '*' "
        "would be 400000000 long, over the output limit of 65536 bytes"
    )
    assert not (config / "dst" / "bomb").exists()


def test_a_job_may_raise_its_template_output_limit(config: Path) -> None:
    large = """
    - sources: {pw: {key: db-password}}
      template: '{{ pw }}{{ "-" * 100000 }}'
      target: {key: large}
"""
    (config / "sync.yaml").write_text(
        job("sync").replace("  plan:", "  limits: {templateOutputBytes: 200000}\n  plan:") + large
    )
    done = secret_sync("run", "-c", str(config), "sync")
    assert done.returncode == 0, done.stderr
    assert len((config / "dst" / "large").read_text()) == len(VALUE) + 100_000
