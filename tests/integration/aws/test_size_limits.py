"""AWS size limits, checked before any call from the provider registry's one table; nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_secret_sync.engine.store import Marker, TooLarge

pytestmark = pytest.mark.aws

OURS = Marker(job="j", source_store="s", source_key="k")


def test_secrets_manager_refuses_a_value_above_65536_bytes(make_sm: Any, sm: Any) -> None:
    store = make_sm()
    calls: list[str] = []
    store.client().meta.events.register(
        "before-call.secretsmanager.*", lambda model, **_: calls.append(model.name)
    )

    with pytest.raises(
        TooLarge, match="the value has 65537 bytes, above the provider's limit of 65536 bytes"
    ):
        store.write("big", "x" * 65_537, OURS)
    assert calls == []  # refused before any call
    assert sm.list_secrets()["SecretList"] == []
    store.write("big", "é" * 32_768, OURS)  # 65,536 bytes of UTF-8: at the limit


@pytest.mark.parametrize(
    ("tier", "limit"), [(None, 4096), ("Standard", 4096), ("Advanced", 8192), ("Intelligent-Tiering", 8192)]
)
def test_parameter_store_limits_follow_the_tier(
    make_ssm: Any, ssm: Any, tier: str | None, limit: int
) -> None:
    store = make_ssm(tier=tier)

    with pytest.raises(
        TooLarge, match=f"the value has {limit + 1} bytes, above the provider's limit of {limit}"
    ):
        store.write("big", "x" * (limit + 1), OURS)
    assert ssm.describe_parameters()["Parameters"] == []
    store.write("big", "x" * limit, OURS)


def test_intelligent_tiering_takes_a_parameter_above_4_kib(make_ssm: Any) -> None:
    """AWS makes it Advanced by itself (moto reports the tier as Intelligent-Tiering)."""
    store = make_ssm(tier="Intelligent-Tiering")
    store.write("big", "x" * 6000, OURS)

    record = store.read("big")
    assert record is not None and record.value == "x" * 6000
