"""Values read by a push are masked at once; those too short for Airflow to mask are counted, said once."""

from __future__ import annotations

import logging

import pytest
from airflow.sdk.log import redact

from airflow_secret_sync.operators.sync import ValueMasker


def test_short_values_give_one_warning_per_task_and_long_ones_are_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    masker = ValueMasker()
    for text in ("abc", "xy", "", "a-long-enough-secret-value", "pin1"):
        masker(text)
    log = logging.getLogger("test-push")
    with caplog.at_level(logging.WARNING):
        masker.warn_once(log)
    assert "a-long-enough-secret-value" not in str(redact("token a-long-enough-secret-value"))
    assert [record.getMessage() for record in caplog.records] == [
        "3 values read were shorter than 5 characters, which Airflow does not mask "
        "([logging] min_length_masked_secret); this provider never logs a value"
    ]
    assert not any("too short" in record.getMessage() for record in caplog.records)


def test_no_warning_when_every_value_can_be_masked(caplog: pytest.LogCaptureFixture) -> None:
    masker = ValueMasker()
    masker("another-long-secret")
    with caplog.at_level(logging.WARNING):
        masker.warn_once(logging.getLogger("test-push"))
    assert caplog.records == []
