"""Key-name rules of each provider: a bad target key is refused before any provider call, with the reason."""

from __future__ import annotations

import pytest

from airflow_secret_sync.engine.naming import (
    SSM_MAX_LEVELS,
    SSM_NAME_LIMIT,
    key_problem,
    parameter_name_problem,
)


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("aws", "a" * 512),
        ("aws", "team/app_1+x=y.z@host-a"),
        ("awsParameterStore", "a" * SSM_NAME_LIMIT),
        ("awsParameterStore", "/".join(["level"] * SSM_MAX_LEVELS)),
        ("awsParameterStore", "/" + "/".join(["level"] * SSM_MAX_LEVELS)),
        ("awsParameterStore", "apps/db_1.url-x"),
        ("vault", "apps/db/password"),
        ("vault", "apps/..hidden/x.y"),
        ("gcp", "a" * 255),
        ("gcp", "db_password-1"),
        ("someFutureKind", "anything at all"),
    ],
)
def test_names_the_provider_accepts_pass(kind: str, key: str) -> None:
    assert key_problem(kind, key) is None


@pytest.mark.parametrize(
    ("kind", "key", "reason"),
    [
        ("aws", "", "1 to 512"),
        ("aws", "a" * 513, "1 to 512"),
        ("aws", "db password", "/_+=.@-"),
        ("aws", "db:password", "/_+=.@-"),
        ("awsParameterStore", "", "no spaces"),
        ("awsParameterStore", "db password", "no spaces"),
        ("awsParameterStore", "db@host", "no spaces"),
        ("awsParameterStore", "a" * (SSM_NAME_LIMIT + 1), f"at most {SSM_NAME_LIMIT} characters"),
        ("awsParameterStore", "/".join(["level"] * (SSM_MAX_LEVELS + 1)), f"at most {SSM_MAX_LEVELS} levels"),
        ("vault", "", "empty"),
        ("vault", "/apps/db", "start or end"),
        ("vault", "apps/db/", "start or end"),
        ("vault", "apps//db", "segments"),
        ("vault", "apps/./db", "segments"),
        ("vault", "apps/../db", "segments"),
        ("gcp", "", "1 to 255"),
        ("gcp", "a" * 256, "1 to 255"),
        ("gcp", "apps/db", "letters, digits"),
        ("gcp", "db.password", "letters, digits"),
    ],
)
def test_names_the_provider_refuses_give_the_rule(kind: str, key: str, reason: str) -> None:
    problem = key_problem(kind, key)
    assert problem is not None
    assert reason in problem


@pytest.mark.parametrize("name", ["/apps/db/url", "plain-name", "/single", "app_aws", "a" * SSM_NAME_LIMIT])
def test_full_parameter_names_the_store_accepts(name: str) -> None:
    assert parameter_name_problem(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("aws-db", "'aws' or 'ssm'"),
        ("SSM/db", "'aws' or 'ssm'"),
        ("/Aws/db", "'aws' or 'ssm'"),
        ("/ssmtool", "'aws' or 'ssm'"),
        ("apps/db", "must start with '/'"),
        ("/apps//db", "empty levels"),
        ("/apps/db/", "empty levels"),
        ("/apps db", "no spaces"),
    ],
)
def test_full_parameter_names_the_store_refuses_give_the_rule(name: str, reason: str) -> None:
    problem = parameter_name_problem(name)
    assert problem is not None
    assert reason in problem
