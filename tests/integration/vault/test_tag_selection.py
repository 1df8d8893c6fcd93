"""Selecting KV v2 secrets by custom_metadata on a real OpenBao server: people's own fields count, the
fields of our marker never do, also in the plain form markers had before they were namespaced."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.vault


def test_a_plain_marker_of_ours_is_not_someones_job_field(openbao, vault_store) -> None:
    store = vault_store()
    api = openbao.client().secrets.kv.v2
    for key, custom in {
        "people": {"job": "nightly-export", "team": "payments"},
        "ours-before-namespaces": {"managed-by": "airflow-secret-sync", "job": "nightly-export"},
    }.items():
        api.create_or_update_secret(f"{store.prefix}{key}", secret={"v": "x"})
        api.update_metadata(f"{store.prefix}{key}", custom_metadata=custom)

    assert store.list_tagged({"job": "nightly-export"}) == ["people"]
    assert store.list_tagged({"managed-by": "airflow-secret-sync"}) == []
    assert store.list_tagged({"team": "payments", "job": "nightly-export"}) == ["people"]
