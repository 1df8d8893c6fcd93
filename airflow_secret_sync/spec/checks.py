"""Syntax checks shared by the spec models: regular expressions, templates, schedules and durations."""

from __future__ import annotations

import re
from datetime import timedelta

from airflow_secret_sync.spec.patterns import compile_pattern
from airflow_secret_sync.spec.templating import TemplateError, compile_template

SCHEDULE_PRESETS = frozenset(
    {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}
)
_DURATION = re.compile(r"^(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def check_regex(value: str | None) -> str | None:
    """Refuse a pattern RE2 cannot run (user patterns run on RE2, in linear time)."""
    if value is not None:
        compile_pattern(value)
    return value


def check_template(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        compile_template(value)
    except TemplateError as err:
        raise ValueError(str(err)) from None
    return value


def parse_duration(value: str) -> timedelta:
    """Parse ``1h30m``, ``45s``, ``2d``; raise ``ValueError`` on anything else."""
    match = _DURATION.match(value.strip())
    if not value.strip() or not match:
        raise ValueError(f"invalid duration {value!r}: expected a form such as 30s, 10m, 1h30m or 2d")
    parts = {name: int(number) for name, number in match.groupdict().items() if number}
    return timedelta(
        days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0), seconds=parts.get("s", 0)
    )


def check_duration(value: str | None) -> str | None:
    if value is not None and parse_duration(value) <= timedelta(0):
        raise ValueError(f"invalid duration {value!r}: must be longer than zero")
    return value


def is_duration(value: str) -> bool:
    return bool(_DURATION.match(value.strip())) and bool(value.strip())


def check_schedule(value: str | None) -> str | None:
    """Accept a cron expression, an Airflow preset, a duration (``1h``) or null (manual runs only)."""
    if value is None or value in SCHEDULE_PRESETS:
        return value
    if value.startswith("@"):
        raise ValueError(
            f"unknown schedule preset {value!r}: use one of {', '.join(sorted(SCHEDULE_PRESETS))}"
        )
    if is_duration(value):
        return check_duration(value)
    from croniter import croniter  # only for cron expressions: its import costs the CLI's start-up

    if not croniter.is_valid(value):
        raise ValueError(
            f"invalid schedule {value!r}: expected a cron expression, a preset such as @hourly, "
            "a duration such as 30m, or null"
        )
    return value
