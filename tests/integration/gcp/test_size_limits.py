"""Secret Manager's 64 KiB payload limit, checked before any call from the provider registry's one table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_secret_sync.engine.store import Marker, TooLarge

pytestmark = pytest.mark.gcp

OURS = Marker(job="j", source_store="s", source_key="k")


def test_a_payload_above_64_kib_is_refused_and_nothing_is_written(gcp_store: Callable[..., Any]) -> None:
    store = gcp_store()

    with pytest.raises(TooLarge) as caught:
        store.write("big", "x" * 65_537, OURS)
    message = str(caught.value)
    assert "the value has 65537 bytes, above the provider's limit of 65536 bytes" in message
    assert "nothing was written" in message
    assert store.list_keys() == []
    assert store.write("big", "x" * 65_536, OURS) == "1"
