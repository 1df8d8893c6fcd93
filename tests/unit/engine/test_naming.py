"""Key-name rules of each provider: a bad target key is refused before any provider call, with the reason.

The rules are reached the way the transform step reaches them: through the store's provider block, so that
the store's own prefix counts.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_secret_sync.engine.naming import store_key_problem
from airflow_secret_sync.spec.models import Provider

AWS = {"aws": {"connId": "aws"}}
AWS_TEAM = {"aws": {"connId": "aws", "prefix": "team/"}}  # 5 characters of the 512 allowed
SSM = {"awsParameterStore": {"connId": "aws"}}
SSM_APPS = {"awsParameterStore": {"connId": "aws", "pathPrefix": "/apps/"}}  # one level of the 15 allowed
SSM_NAME_LIMIT = 961  # 1011 minus the longest commercial ARN before the name
VAULT = {"vault": {"connId": "vault"}}
GCP = {"gcp": {"connId": "gcp"}}


def problem(block: dict[str, Any], key: str) -> str | None:
    return store_key_problem(Provider.model_validate(block), key)


@pytest.mark.parametrize(
    ("block", "key"),
    [
        (AWS, "a" * 512),
        (AWS, "team/app_1+x=y.z@host-a"),
        (AWS_TEAM, "a" * 507),
        (SSM, "a" * SSM_NAME_LIMIT),
        (SSM, "plain-name"),
        (SSM, "/apps/db_1.url-x"),
        (SSM, "app_aws"),
        (SSM_APPS, "/".join(["level"] * 14)),
        (VAULT, "apps/db/password"),
        (VAULT, "apps/..hidden/x.y"),
        (GCP, "a" * 255),
        (GCP, "db_password-1"),
    ],
)
def test_names_the_provider_accepts_pass(block: dict[str, Any], key: str) -> None:
    assert problem(block, key) is None


@pytest.mark.parametrize(
    ("block", "key", "reason"),
    [
        (AWS, "", "1 to 512"),
        (AWS, "a" * 513, "1 to 512"),
        (AWS_TEAM, "a" * 508, "1 to 512"),
        (AWS, "db password", "/_+=.@-"),
        (AWS, "db:password", "/_+=.@-"),
        (SSM, "", "no spaces"),
        (SSM, "db password", "no spaces"),
        (SSM, "db@host", "no spaces"),
        (SSM, "a" * (SSM_NAME_LIMIT + 1), f"at most {SSM_NAME_LIMIT} characters"),
        (SSM_APPS, "/".join(["level"] * 15), "at most 15 levels"),
        (SSM, "aws-db", "'aws' or 'ssm'"),
        (SSM, "SSM/db", "'aws' or 'ssm'"),
        (SSM, "/Aws/db", "'aws' or 'ssm'"),
        (SSM, "/ssmtool", "'aws' or 'ssm'"),
        (SSM, "apps/db", "must start with '/'"),
        (SSM, "/apps//db", "empty levels"),
        (SSM_APPS, "db/", "empty levels"),
        (VAULT, "", "empty"),
        (VAULT, "/apps/db", "start or end"),
        (VAULT, "apps/db/", "start or end"),
        (VAULT, "apps//db", "segments"),
        (VAULT, "apps/./db", "segments"),
        (VAULT, "apps/../db", "segments"),
        (GCP, "", "1 to 255"),
        (GCP, "a" * 256, "1 to 255"),
        (GCP, "apps/db", "letters, digits"),
        (GCP, "db.password", "letters, digits"),
    ],
)
def test_names_the_provider_refuses_give_the_rule(block: dict[str, Any], key: str, reason: str) -> None:
    refused = problem(block, key)
    assert refused is not None
    assert reason in refused
