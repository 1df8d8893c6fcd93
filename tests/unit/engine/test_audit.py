"""The audit record: one shape for every output, read back from a log line, and its retry flag."""

from __future__ import annotations

import jsonschema
import pytest
from pydantic import ValidationError

from airflow_secret_sync.engine.audit import Action, AuditRecord, audit_schema
from airflow_secret_sync.engine.store import NotFound, PermissionDenied, StoreError, Transient, is_retryable
from airflow_secret_sync.engine.sync import DeletionGuard
from airflow_secret_sync.spec.templating import TemplateError


def record(action: Action, **fields: object) -> AuditRecord:
    return AuditRecord(job="j", target_store="dst", target_key="k", action=action, **fields)


def test_a_log_line_reads_back_as_the_record_it_was_written_from() -> None:
    written = record(Action.ERROR, reason="boom", retryable=True, source_version="3", run_id="r")
    line = {"event": "secret-sync audit", "timestamp": "t", "level": "error", **written.to_json()}

    assert AuditRecord.from_json(line) == written
    assert not list(jsonschema.Draft202012Validator(audit_schema()).iter_errors(written.to_json()))
    with pytest.raises(ValidationError):
        AuditRecord.from_json({**line, "action": "explode"})


def test_only_failures_say_whether_they_are_retryable() -> None:
    assert record(Action.CREATE, retryable=True).retryable is None
    assert record(Action.CONFLICT).retryable is False  # a conflict is decided by the target's state
    assert record(Action.ERROR).retryable is False
    assert record(Action.ERROR, retryable=True).retryable is True


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (Transient("HTTP 503"), True),
        (PermissionDenied("HTTP 403"), False),
        (NotFound("no such mount"), False),
        (TemplateError("template failed"), False),
        (ValueError("property 'x' not found"), False),
        (ConnectionResetError("reset by peer"), True),
        (RuntimeError("something we do not know"), True),
        (StoreError("a provider error nobody classified"), True),
        (DeletionGuard("deletion guard: nothing was deleted"), False),
    ],
)
def test_errors_are_retried_only_when_another_attempt_may_succeed(error: Exception, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def test_a_failed_check_and_set_is_retried_but_an_ownership_conflict_is_not() -> None:
    from airflow_secret_sync.engine.store import Conflict, WriteConflict, is_retryable

    assert is_retryable(WriteConflict("secret changed between read and write"))
    assert not is_retryable(Conflict("target is owned by another job"))
