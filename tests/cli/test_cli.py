"""``secret-sync`` end to end on file stores: plan item kinds, policies, exit codes, no values printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from airflow_secret_sync.cli import main
from airflow_secret_sync.engine.store import Marker
from airflow_secret_sync.providers.file.store import FileSecretStore

SECRETS = {
    "db-password": "hunter2-very-secret-password",
    "db/creds": json.dumps({"user": "app-user-name", "password": "creds-password-0001"}),
    "game-abc.def": "game-def-value-0001",
    "game-abc.xyz": "game-xyz-value-0002",
    "team-a/svc-Alpha": "alpha-service-token-01",
    "team-a/svc-beta": "beta-service-token-002",
    "team-a/other": "not-selected-value-003",
}
ALL_VALUES = [*SECRETS.values(), "app-user-name", "creds-password-0001"]

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
metadata: {name: dst2}
spec:
  permissions: ReadWrite
  provider: {file: {path: ./dst2}}
"""

FULL_JOB = """
apiVersion: secret-sync/v1alpha1
kind: SyncJob
metadata: {name: full}
spec:
  source: src
  targets:
    - dst
    - store: dst2
      keyTransform: [{regexp: {source: "/", target: "_"}}]
  plan:
    - secret: {key: db-password}
      target: {key: prod/db-password}
    - secret: {key: db/creds, property: password}
      target: {key: db-merged, property: password}
    - query: {path: team-a/, regexp: "^team-a/svc-", recursive: true}
      keyTransform:
        - regexp: {source: "^team-a/svc-(?P<name>.+)$", target: "services/${name}"}
        - template: "{{ key | lower }}"
    - query: {regexp: "^game-.+"}
      keyTransform:
        - regexp: {source: "^game-(.+)\\\\.(.+)$", target: "my/path/$1", property: "prop-$2"}
    - sources:
        user: {key: db/creds, property: user}
        pass: {key: db/creds, property: password}
      template: "postgresql://{{ user }}:{{ pass }}@db:5432/app"
      target: {key: dsn}
"""


def job(name: str, plan: str, *, targets: str = "[dst]", extra: str = "") -> str:
    """A SyncJob document from src; ``plan`` and ``extra`` are YAML lines (plan items, spec fields)."""
    lines = [
        "apiVersion: secret-sync/v1alpha1",
        "kind: SyncJob",
        f"metadata: {{name: {name}}}",
        "spec:",
        "  source: src",
        f"  targets: {targets}",
        *(f"  {line}" for line in extra.splitlines()),
        "  plan:",
        *(f"    {line}" for line in plan.splitlines()),
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    source = FileSecretStore(tmp_path / "src")
    for key, value in SECRETS.items():
        path = source.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    (tmp_path / "stores.yaml").write_text(STORES)
    (tmp_path / "full.yaml").write_text(FULL_JOB)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    for value in ALL_VALUES:
        assert value not in out and value not in err, "a secret value reached CLI output"
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]]]:
    code, out, _ = run(capsys, *args, "--output", "json")
    return code, json.loads(out)


def actions(rows: list[dict[str, object]], target: str = "dst") -> dict[str, str]:
    return {str(row["targetKey"]): str(row["action"]) for row in rows if row["targetStore"] == target}


def test_full_job_syncs_every_plan_item_kind(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = run_json(capsys, "run", "-c", str(config), "full")
    assert code == 0
    assert actions(rows) == {
        "prod/db-password": "create",
        "db-merged": "create",
        "services/alpha": "create",
        "services/beta": "create",
        "my/path/abc": "create",
        "dsn": "create",
    }
    dst = config / "dst"
    assert (dst / "prod/db-password").read_text() == SECRETS["db-password"]
    assert json.loads((dst / "db-merged").read_text()) == {"password": "creds-password-0001"}
    assert (dst / "services/alpha").read_text() == SECRETS["team-a/svc-Alpha"]
    # the seed's rewrite: two source keys become two fields of one target secret
    assert json.loads((dst / "my/path/abc").read_text()) == {
        "prop-def": "game-def-value-0001",
        "prop-xyz": "game-xyz-value-0002",
    }
    assert (dst / "dsn").read_text() == "postgresql://app-user-name:creds-password-0001@db:5432/app"
    # the target's own rules apply after the item's: '/' becomes '_' only in dst2
    assert actions(rows, "dst2")["prod_db-password"] == "create"
    assert (config / "dst2" / "my_path_abc").exists()
    # the owner marker names the job, the source and the store it was written through
    marker = FileSecretStore(dst).read_marker("prod/db-password")
    assert marker == Marker(
        job="full", source_store="src", source_key="db-password", source_version="1", target_store="dst"
    )


def test_second_run_is_unchanged_and_writes_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "run", "-c", str(config), "full")[0] == 0
    stamps = {p: p.stat().st_mtime_ns for p in (config / "dst").rglob("*") if p.is_file()}
    code, rows = run_json(capsys, "run", "-c", str(config), "full")
    assert code == 0
    assert set(actions(rows).values()) == {"unchanged"}
    assert {p: p.stat().st_mtime_ns for p in (config / "dst").rglob("*") if p.is_file()} == stamps


def test_changed_source_updates_only_that_key(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "run", "-c", str(config), "full")
    (config / "src" / "db-password").write_text("rotated-password-value-9")
    code, rows = run_json(capsys, "run", "-c", str(config), "full")
    assert code == 0
    assert [key for key, action in actions(rows).items() if action != "unchanged"] == ["prod/db-password"]
    assert actions(rows)["prod/db-password"] == "update"
    assert (config / "dst" / "prod/db-password").read_text() == "rotated-password-value-9"


def test_dry_run_and_plan_write_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = run_json(capsys, "run", "-c", str(config), "full", "--dry-run")
    assert code == 0 and set(actions(rows).values()) == {"create"}
    assert all(row["dryRun"] for row in rows)
    assert not (config / "dst").exists()
    code, rows = run_json(capsys, "plan", "-c", str(config), "full")
    assert code == 0 and set(actions(rows).values()) == {"create"}
    assert not (config / "dst").exists()


def test_plan_markdown_is_a_table_per_store(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plan", "-c", str(config), "full", "--output", "markdown")
    assert code == 0
    assert "### dst (plan): 6 create" in out and "### dst2 (plan): 6 create" in out
    assert "| create | `prod/db-password` | `db-password` |" in out


def test_keys_and_targets_narrow_the_run(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = run_json(capsys, "run", "-c", str(config), "full", "--keys", "^game-", "--targets", "dst2")
    assert code == 0
    assert {row["targetStore"] for row in rows} == {"dst2"}
    assert actions(rows, "dst2") == {"my_path_abc": "create"}
    assert not (config / "dst").exists()


def test_unknown_target_subset_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", "-c", str(config), "full", "--targets", "nope")
    assert code == 2 and "not targets of job 'full': nope" in err


def write_job(config: Path, text: str) -> None:
    (config / "full.yaml").unlink()
    (config / "job.yaml").write_text(text)


def seed_target(config: Path, key: str, value: str, marker: Marker | None = None) -> None:
    store = FileSecretStore(config / "dst")
    if marker is None:
        path = store.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
    else:
        store.write(key, value, marker)


@pytest.mark.parametrize(
    ("policy", "exit_code", "action", "kept"),
    [("Fail", 1, "conflict", True), ("Skip", 0, "skip", True), ("Adopt", 0, "update", False)],
)
def test_conflict_policy_for_a_secret_without_our_marker(
    config: Path, capsys: pytest.CaptureFixture[str], policy: str, exit_code: int, action: str, kept: bool
) -> None:
    write_job(config, job("j", "- secret: {key: db-password}", extra=f"conflictPolicy: {policy}"))
    seed_target(config, "db-password", "someone-elses-value-77")
    code, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert (code, actions(rows)) == (exit_code, {"db-password": action})
    expected = "someone-elses-value-77" if kept else SECRETS["db-password"]
    assert (config / "dst" / "db-password").read_text() == expected


def test_failed_store_is_named_in_pushsecret_wording(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_job(config, job("j", "- secret: {key: db-password}", targets="[dst, dst2]"))
    seed_target(config, "db-password", "someone-elses-value-77")
    code, _out, err = run(capsys, "run", "-c", str(config), "j")
    assert code == 1
    assert "Secret sync failed to Sink SecretStore: dst" in err
    assert (config / "dst2" / "db-password").read_text() == SECRETS["db-password"]  # the other store went on


def test_another_jobs_secret_is_never_taken(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_job(config, job("j", "- secret: {key: db-password}", extra="conflictPolicy: Adopt"))
    seed_target(config, "db-password", "other-jobs-value-0042", Marker("other", "src", "db-password"))
    code, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert code == 1 and actions(rows) == {"db-password": "conflict"}
    assert "owned by job 'other'" in str(rows[0]["reason"])


def test_update_policy_if_not_exists(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_job(config, job("j", "- secret: {key: db-password}", extra="updatePolicy: IfNotExists"))
    seed_target(config, "db-password", "older-value-kept-000", Marker("j", "src", "db-password"))
    code, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert (code, actions(rows)) == (0, {"db-password": "skip"})
    assert (config / "dst" / "db-password").read_text() == "older-value-kept-000"


def test_deletion_policy_delete_removes_only_our_orphans(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_job(config, job("j", "- query: {path: team-a/}", extra="deletionPolicy: Delete\nmaxDeletes: 1"))
    assert run(capsys, "run", "-c", str(config), "j")[0] == 0
    seed_target(config, "team-a/foreign", "not-ours-keep-me-001")
    seed_target(config, "team-a/other-job", "other-job-keep-me-02", Marker("other", "src", "team-a/x"))
    (config / "src" / "team-a" / "other").unlink()
    code, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert code == 0
    assert actions(rows)["team-a/other"] == "delete"
    assert not (config / "dst" / "team-a/other").exists()
    assert (config / "dst" / "team-a/foreign").exists() and (config / "dst" / "team-a/other-job").exists()


def test_deletion_guard_stops_a_mass_delete(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_job(config, job("j", "- query: {path: team-a/}", extra="deletionPolicy: Delete\nmaxDeletes: 33%"))
    assert run(capsys, "run", "-c", str(config), "j")[0] == 0
    for name in ("svc-Alpha", "svc-beta"):
        (config / "src" / "team-a" / name).unlink()
    code, out, _err = run(capsys, "run", "-c", str(config), "j", "--output", "json")
    assert code == 1
    assert "deletion guard: 2 secrets in store 'dst' lost their source" in out
    assert "nothing was deleted" in out
    assert sorted(p.name for p in (config / "dst" / "team-a").iterdir()) == ["other", "svc-Alpha", "svc-beta"]


def test_retain_never_deletes(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_job(config, job("j", "- query: {path: team-a/}"))
    run(capsys, "run", "-c", str(config), "j")
    (config / "src" / "team-a" / "other").unlink()
    code, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert code == 0 and "delete" not in actions(rows).values()
    assert (config / "dst" / "team-a" / "other").exists()


def test_loop_is_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a secret in src that job "back" synced there from dst must never go back into dst
    FileSecretStore(config / "src").write("came-from-dst", "looping-value-000111", Marker("back", "dst", "x"))
    write_job(config, job("j", "- secret: {key: came-from-dst}\n- secret: {key: db-password}"))
    code, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert code == 1
    assert actions(rows) == {"came-from-dst": "error", "db-password": "create"}
    reason = next(str(row["reason"]) for row in rows if row["targetKey"] == "came-from-dst")
    assert "loop refused" in reason and "'dst'" in reason
    assert not (config / "dst" / "came-from-dst").exists()


def test_path_escape_is_refused_at_validation(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_job(config, job("j", "- secret: {key: db-password}\n  target: {key: ../../etc/escape}"))
    code, out, _ = run(capsys, "validate", str(config))
    assert code == 2
    assert (
        "job.yaml: SyncJob 'j': spec.plan[0]: target key '../../etc/escape' is not valid in store 'dst'"
        in out
    )
    assert run(capsys, "run", "-c", str(config), "j")[0] == 2
    assert not (config / "etc").exists() and not (config.parent / "etc" / "escape").exists()


def test_path_escape_from_a_query_rewrite_is_refused_per_key(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = '- query: {path: team-a/svc-}\n  keyTransform: [{regexp: {source: "^team-a/", target: "../"}}]'
    write_job(config, job("j", rule + "\n- secret: {key: db-password}"))
    code, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert code == 1
    assert actions(rows)["../svc-beta"] == "error" and actions(rows)["db-password"] == "create"
    assert not (config / "svc-beta").exists()


def test_missing_source_key_is_an_error_for_that_key(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_job(config, job("j", "- secret: {key: nope}\n- secret: {key: db-password}"))
    code, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert code == 1 and actions(rows) == {"nope": "error", "db-password": "create"}


def test_failed_source_listing_writes_nothing(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_job(config, job("j", "- secret: {key: db-password}\n- query: {path: team-a/}"))
    (config / "src").rename(config / "moved")
    code, _, err = run(capsys, "run", "-c", str(config), "j")
    assert code == 1 and "reading the source failed, nothing was written" in err
    assert not (config / "dst").exists()


def test_validate_lists_every_error_and_keeps_good_jobs(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config / "bad.yaml").write_text(
        "kind: SyncJob\napiVersion: secret-sync/v1alpha1\nmetadata: {name: bad}\n"
        "spec: {source: src, targets: [nope], plan: [{secret: {key: a}}]}\n"
    )
    (config / "broken.yaml").write_text("a: [unclosed\n")
    code, out, _ = run(capsys, "validate", str(config))
    assert code == 2
    assert "bad.yaml: SyncJob 'bad': spec.targets[0]: unknown SecretStore 'nope'" in out
    assert "broken.yaml: invalid YAML: line 2" in out
    assert "invalid: 3 stores, 1 jobs, 2 errors" in out
    assert run(capsys, "run", "-c", str(config), "full", "--dry-run")[0] == 0  # the good job still runs


def test_unknown_job_is_a_usage_error(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "run", "-c", str(config), "nope")
    assert code == 2 and "no SyncJob named 'nope'" in err and "full" in err


def test_schema_describes_both_documents(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0
    assert {"SecretStore", "SyncJob"} <= set(schema["$defs"])
    assert "conflictPolicy" in schema["$defs"]["SyncJobSpec"]["properties"]


def test_console_script_runs_outside_pytest(config: Path) -> None:
    script = Path(sys.executable).parent / "secret-sync"
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [str(script), "run", "-c", str(config), "full"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "dst: ok (6 create)" in done.stderr
    for value in ALL_VALUES:
        assert value not in done.stdout + done.stderr


# --------------------------------------------------------------------------------------------- honest wording


def test_a_query_that_matches_nothing_is_a_warning_naming_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_job(config, job("j", '- query: {path: tema-a/, regexp: "^svc-"}\n- secret: {key: db-password}'))
    code, out, err = run(capsys, "plan", "-c", str(config), "j")
    assert code == 0
    assert (
        "warning: spec.plan[0].query (path 'tema-a/', regexp '^svc-') matched no key in store 'src' "
        "(the listing is empty); nothing to sync for it"
    ) in err
    assert "warning" not in out


def test_plan_says_which_keys_each_query_selected_and_a_template_renders_each(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = "postgresql://{{ value.user }}:{{ value.password }}@{{ name }}:5432/app"
    plan = (
        f'- query: {{path: db/, regexp: "^db/(?P<name>[a-z]+)$"}}\n  template: "{uri}"\n'
        "- query: {path: db/, recursive: false}\n  property: user\n"
        '  keyTransform: [{template: "users/{{ key }}"}]'
    )
    write_job(config, job("uris", plan))
    code, _, err = run(capsys, "plan", "-c", str(config), "uris")
    assert code == 0, err
    assert (
        "spec.plan[0].query (path 'db/', regexp '^db/(?P<name>[a-z]+)$') selected 1 key(s) of store 'src': "
        "db/creds"
    ) in err
    assert "spec.plan[1].query (path 'db/', not recursive) selected 1 key(s) of store 'src': db/creds" in err
    _, rows = run_json(capsys, "run", "-c", str(config), "uris")
    assert actions(rows) == {"db/creds": "create", "users/db/creds": "create"}
    target = FileSecretStore(config / "dst")
    assert {key: record.value for key in target.list_keys() if (record := target.read(key))} == {
        "db/creds": "postgresql://app-user-name:creds-password-0001@creds:5432/app",
        "users/db/creds": "app-user-name",
    }


def test_a_dry_run_never_says_a_marker_was_recorded(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_job(config, job("j", "- secret: {key: db-password}", extra="conflictPolicy: Adopt"))
    seed_target(config, "db-password", SECRETS["db-password"])  # equal value, no marker yet
    _, rows = run_json(capsys, "plan", "-c", str(config), "j")
    reasons = [str(row["reason"]) for row in rows]
    assert reasons == ["equal value; dry run: the ownership marker would be recorded"]
    assert FileSecretStore(config / "dst").read_marker("db-password") is None
    _, rows = run_json(capsys, "run", "-c", str(config), "j")
    assert [row["reason"] for row in rows] == ["equal value; ownership marker recorded"]


def test_a_store_that_fails_whole_is_not_said_to_have_nothing_to_do(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # nothing planned, and the deletion pass cannot list dst (its folder is a file): a store-level failure
    (config / "stores.yaml").write_text(STORES.replace("path: ./dst}", "path: ./dst-is-a-file}"))
    (config / "dst-is-a-file").write_text("not a folder")
    write_job(config, job("j", "- query: {path: nothing-here/}", extra="deletionPolicy: Delete"))
    code, _out, err = run(capsys, "run", "-c", str(config), "j", "--no-progress")
    assert code == 1
    line = next(line for line in err.splitlines() if line.startswith("dst: "))
    assert line.startswith("dst: FAILED") and "nothing to do" not in line


def secret_sync(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    script = Path(sys.executable).parent / "secret-sync"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120, check=False)


def test_run_and_plan_json_rows_are_audit_records(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done = secret_sync("schema", "audit")
    assert done.returncode == 0, done.stderr
    validator = jsonschema.Draft202012Validator(json.loads(done.stdout))
    plan = "- query: {path: team-a/}\n- secret: {key: db-password, property: user}\n  target: {key: u}"
    write_job(config, job("j", plan, extra="deletionPolicy: Delete\nmaxDeletes: 0"))
    assert run(capsys, "run", "-c", str(config), "j")[0] == 1
    (config / "src" / "team-a" / "other").unlink()  # the guard (maxDeletes 0) fails the store as a whole

    for command in ("plan", "run"):
        code, rows = run_json(capsys, command, "-c", str(config), "j", "--run-id", "r-1")

        assert code == 1
        for row in rows:
            assert not [error.message for error in validator.iter_errors(row)], (command, row)
        by_key = {row["targetKey"]: row for row in rows}
        assert by_key["team-a/svc-beta"]["action"] == "unchanged"
        assert by_key["team-a/svc-beta"]["retryable"] is None
        assert by_key["team-a/svc-beta"]["runId"] == "r-1" and by_key["team-a/svc-beta"]["job"] == "j"
        assert (by_key["u"]["action"], by_key["u"]["retryable"]) == ("error", False)
        store = by_key[None]  # the store's own failure: targetKey null, after its keys
        assert rows[-1] == store and store["targetStore"] == "dst"
        assert (store["action"], store["retryable"]) == ("error", False)
        assert "deletion guard" in str(store["reason"])
        assert store["dryRun"] is (command == "plan")
