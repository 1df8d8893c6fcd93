"""Tags and labels in a store spec are checked at validate time against the cloud's rules, counting the
ownership marker's own (issue 24): a store AWS or Google would refuse on every write fails `validate`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_secret_sync.engine.config import load_config
from airflow_secret_sync.engine.store import MARKER_FIELD_NAMES, Marker
from airflow_secret_sync.providers.aws.marker import marker_tags
from airflow_secret_sync.providers.aws.tag_rules import MARKER_TAGS_RESERVED, TAG_VALUE_LIMIT
from airflow_secret_sync.providers.azure_key_vault.spec import MARKER_TAGS as AZURE_MARKER_TAGS


def validate(tmp_path: Path, provider: dict[str, Any]) -> list[tuple[str, str]]:
    document = {
        "apiVersion": "secret-sync/v1alpha1",
        "kind": "SecretStore",
        "metadata": {"name": "target"},
        "spec": {"provider": provider},
    }
    (tmp_path / "store.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
    return [(error.path, error.message) for error in load_config(tmp_path, root=tmp_path).errors]


@pytest.mark.parametrize("kind", ["aws", "awsParameterStore"])
@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"aws:team": "x"}, "tag 'aws:team': tag keys starting with 'aws:' are reserved for AWS"),
        ({"secret-sync:job": "x"}, "reserved for the ownership marker"),
        ({"k" * 129: "x"}, "tag keys have 1 to 128 characters"),
        ({"team": "v" * 257}, "tag values have at most 256 characters"),
        ({"team": "a&b"}, "tags hold letters, digits, spaces and _ . : / = + - @ only"),
        (
            {f"tag-{number}": "x" for number in range(40)},
            "40 tags, and the ownership marker takes at least 11 more: AWS allows 50 per resource, "
            "so at most 39",
        ),
    ],
    ids=["aws-prefix", "marker-prefix", "long-key", "long-value", "character", "count"],
)
def test_aws_store_tags_aws_refuses_fail_validation_with_the_field_path(
    tmp_path: Path, kind: str, tags: dict[str, str], message: str
) -> None:
    errors = validate(tmp_path, {kind: {"connId": "aws", "tags": tags}})
    assert len(errors) == 1
    assert errors[0][0] == f"spec.provider.{kind}.tags"
    assert message in errors[0][1]


def test_aws_store_tags_within_the_rules_pass(tmp_path: Path) -> None:
    tags = {f"tag {number}": "Ünïcode value: a/b=c+d-e@f_g.h" for number in range(39)}
    assert validate(tmp_path, {"aws": {"connId": "aws", "tags": tags}}) == []


def test_gcp_labels_leave_room_for_the_marker_labels(tmp_path: Path) -> None:
    labels = {f"label-{number}": "x" for number in range(63)}
    errors = validate(tmp_path, {"gcp": {"connId": "gcp", "labels": labels}})
    assert errors == [
        (
            "spec.provider.gcp.labels",
            "63 labels, and the ownership marker takes 2 more: Google allows 64 per secret, so at most 62",
        )
    ]
    del labels["label-0"]
    assert validate(tmp_path, {"gcp": {"connId": "gcp", "labels": labels}}) == []


def test_the_marker_reserve_is_one_tag_per_marker_field_and_chunks_fit_a_tag_value() -> None:
    assert len(MARKER_FIELD_NAMES) == MARKER_TAGS_RESERVED == AZURE_MARKER_TAGS
    marker = Marker(job="j", source_store="s", source_key="ü/" * 300, provenance=("p" * 63,) * 8)
    assert all(len(value) <= TAG_VALUE_LIMIT for value in marker_tags(marker).values())
