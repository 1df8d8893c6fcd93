"""The AWS stores against the validating front on the rules moto alone lets pass (issue 24): tiers, tag
limits, a failure between the value and its marker, sustained throttling."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_secret_sync.engine.store import Conflict, Marker
from airflow_secret_sync.providers.aws.marker import marker_from_tags

pytestmark = pytest.mark.aws

MARKER = Marker(job="job-a", source_store="files", source_key="db/password", source_version="2")


def parameter_tags(ssm: Any, name: str) -> dict[str, str]:
    listed = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return {tag["Key"]: tag["Value"] for tag in listed}


def test_a_standard_store_refuses_to_downgrade_an_advanced_parameter(make_ssm: Any, ssm: Any) -> None:
    make_ssm(tier="Advanced").write("big", "written-advanced", MARKER)
    store = make_ssm(tier="Standard")
    current = store.read("big")
    assert current is not None
    with pytest.raises(Conflict, match="Advanced.*tier: Standard.*tier: Advanced") as refused:
        store.write("big", "new-value", MARKER, expected_version=current.version)
    assert refused.value.retryable is False
    parameter = ssm.get_parameter(Name="/apps/big", WithDecryption=True)["Parameter"]
    assert (parameter["Value"], parameter["Version"]) == ("written-advanced", 1)
