"""A corpus of broken configurations: each must fail with one error naming its file, field path and problem.

Every case in ``invalid/`` (a file, or a folder loaded as a whole) is listed in ``CASES`` with the one error
it must produce: the file the error names, the field path, and a substring of the message. A case added to
the folder without an entry here fails ``test_every_case_is_listed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from airflow_secret_sync.engine.config import load_config

INVALID = Path(__file__).parent / "invalid"


class Expected(NamedTuple):
    path: str
    message: str
    file: str | None = None  # defaults to the case itself; folder cases name the file inside


CASES: dict[str, Expected] = {
    "yaml-syntax.yaml": Expected("", "invalid YAML: line 20, column 12: mapping values are not allowed here"),
    "duplicate-yaml-key.yaml": Expected("", "invalid YAML: line 21, column 3: found duplicate key 'source'"),
    "not-a-mapping.yaml": Expected("", "document 1 is not a mapping"),
    "unknown-field.yaml": Expected("spec.plan[0].secret.proprety", "unknown field"),
    "unknown-kind.yaml": Expected("kind", "unknown kind 'SyncJobs': expected one of SecretStore, SyncJob"),
    "wrong-api-version.yaml": Expected("apiVersion", "unknown apiVersion 'secret-sync/v1'"),
    "missing-source.yaml": Expected("spec.source", "required field is missing"),
    "bad-regex.yaml": Expected(
        "spec.plan[0].keyTransform[0].regexp.source", "invalid regular expression '^game-(.+"
    ),
    "bad-query-regex.yaml": Expected("spec.plan[0].query.regexp", "missing ]: [a-"),
    "regex-backreference.yaml": Expected(
        "spec.plan[0].keyTransform[0].regexp.source",
        "invalid escape sequence: \\1; RE2 syntax is required (no backreferences, lookaround",
    ),
    "regex-lookahead.yaml": Expected(
        "spec.plan[0].query.regexp", "invalid perl operator: (?!; RE2 syntax is required"
    ),
    "bad-group-reference.yaml": Expected(
        "spec.plan[0].keyTransform[0].regexp.target",
        "refers to group '2', which the expression in 'source' does not define",
    ),
    "bad-template-syntax.yaml": Expected("spec.plan[0].keyTransform[0].template", "invalid template:"),
    "key-template-python-internals.yaml": Expected(
        "spec.plan", "SecurityError: access to attribute '__class__' of 'str' object is unsafe"
    ),
    "key-template-over-the-output-limit.yaml": Expected(
        "spec.plan",
        "key template '{{ key }}{{ \"x\" * 400000000 }}': template stopped: the result of '*' would be "
        "400000000 long, over the output limit of 65536 bytes",
    ),
    "template-output-over-the-largest-value.yaml": Expected(
        "spec.limits.templateOutputBytes", "Input should be less than or equal to 1048576"
    ),
    "bad-cron.yaml": Expected("spec.schedule", "invalid schedule '61 * * * *'"),
    "trigger-two-schedules.yaml": Expected("spec.trigger", "give the schedule once"),
    "trigger-change-interval-too-short.yaml": Expected("spec.trigger.onChange.interval", "too short"),
    "trigger-change-with-continuous.yaml": Expected("spec.trigger", "not @once or @continuous"),
    "trigger-change-unknown-field.yaml": Expected("spec.trigger.onChange.intervall", "unknown field"),
    "bad-schedule-preset.yaml": Expected("spec.schedule", "unknown schedule preset '@fortnightly'"),
    "bad-duration.yaml": Expected("spec.retry.retryInterval", "invalid duration '5 minutes'"),
    "bad-max-deletes.yaml": Expected(
        "spec.maxDeletes", "expected a count or a percentage such as 10%, got '150%'"
    ),
    "fractional-max-deletes.yaml": Expected("spec.maxDeletes", "got 2.5"),
    "unknown-store.yaml": Expected("spec.targets[0]", "unknown SecretStore 'dts' (known stores: dst, src)"),
    "unknown-store-in-folder": Expected(
        "spec.source", "unknown SecretStore 'vault'", file="unknown-store-in-folder/jobs.yaml"
    ),
    "read-only-target.yaml": Expected(
        "spec.targets[0]", "SecretStore 'src' cannot be written (permissions: Read)"
    ),
    "write-only-source.yaml": Expected(
        "spec.source", "SecretStore 'sink' cannot be read (permissions: Write)"
    ),
    "source-is-target.yaml": Expected("spec.targets[0]", "store 'dst' is both the source and a target"),
    "item-source-is-target.yaml": Expected("spec.plan[0].source", "store 'dst' is also a target of this job"),
    "duplicate-target.yaml": Expected("spec.targets[1]", "store 'dst' is listed twice"),
    "static-target-collision.yaml": Expected(
        "spec.plan[1]",
        "sources 'prod/db-password' and 'staging/db-password' would both write key 'db-password'",
    ),
    "whole-and-property-collision.yaml": Expected(
        "spec.plan[1]", "sources 'db/creds' and 'db-password' would both write key 'db' field 'password'"
    ),
    "gcp-invalid-target-key.yaml": Expected(
        "spec.plan[0]",
        "target key 'prod/db.password' is not valid in store 'gsm' (gcp): GCP secret ids allow only letters",
    ),
    "vault-reserved-target-key.yaml": Expected(
        "spec.plan[0]",
        "target key '.secret-sync/db-password' is not valid in store 'legacy' (vault): "
        ".secret-sync/ is reserved",
    ),
    "path-escaping-target.yaml": Expected(
        "spec.plan[0]", "target key '../x' is not valid in store 'dst' (file)"
    ),
    "compose-undefined-variable.yaml": Expected(
        "spec.plan[0].template", "template uses password, which is not among sources (user)"
    ),
    "compose-without-template.yaml": Expected(
        "spec.plan[0]", "give exactly one of 'template' or 'templateFields'"
    ),
    "two-providers.yaml": Expected("spec.provider", "give exactly one provider of vault, aws"),
    "no-provider.yaml": Expected("spec.provider", "(got 0)"),
    "bad-vault-kv-version.yaml": Expected("spec.provider.vault.kvVersion", "expected 1 or 2"),
    "plan-item-without-kind.yaml": Expected(
        "spec.plan[0]", "a plan item needs one of 'secret', 'query' or 'sources'"
    ),
    "bad-metadata-name.yaml": Expected("metadata.name", "String should match pattern"),
    "bad-permissions.yaml": Expected("spec.permissions", "expected 'Read', 'Write' or 'ReadWrite'"),
    "duplicate-store-name": Expected(
        "metadata.name",
        "duplicate name: also declared in duplicate-store-name/a.yaml",
        file="duplicate-store-name/b.yaml",
    ),
}


def test_every_case_is_listed() -> None:
    on_disk = {path.name for path in INVALID.iterdir()}
    assert on_disk == set(CASES)
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_config_reports_its_place_and_problem(case: str) -> None:
    expected = CASES[case]
    config = load_config(INVALID / case, root=INVALID)

    assert len(config.errors) == 1, [str(error) for error in config.errors]
    error = config.errors[0]
    assert error.file == (expected.file or case)
    assert error.path == expected.path
    assert expected.message in error.message
    # the one-line form users read starts with the file and carries the path and the problem
    text = str(error)
    assert text.startswith(f"{error.file}: ")
    assert f"{expected.path}: " in text
    assert expected.message in text
    # nothing broken is half-loaded: the broken job never runs
    assert "broken" not in config.jobs
