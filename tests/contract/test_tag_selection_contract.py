"""Selecting secrets by tags (``query.tags``), on every store kind against its real server.

People tag secrets with the provider's own means (AWS and Azure tags, GCP and Kubernetes labels, Vault KV v2
custom_metadata); :func:`tag` does it here the same way, through the provider's client, never through the
store interface (which only ever writes our marker). A store without tags refuses the query outright.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from airflow_secret_sync.engine.store import Marker, Misconfigured, SecretStoreBackend
from airflow_secret_sync.engine.values import to_kind

OURS = Marker(job="job-a", source_store="src", source_key="x")


def _vault(store: Any, key: str, tags: Mapping[str, str]) -> None:
    kv = store.client.secrets.kv.v2
    current = kv.read_secret_metadata(path=store._path(key), mount_point=store.mount)["data"]
    custom = {**(current.get("custom_metadata") or {}), **tags}
    kv.update_metadata(path=store._path(key), custom_metadata=custom, mount_point=store.mount)


def _aws(store: Any, key: str, tags: Mapping[str, str]) -> None:
    listed = [{"Key": name, "Value": value} for name, value in tags.items()]
    store.client().tag_resource(SecretId=store._name(key), Tags=listed)


def _parameter_store(store: Any, key: str, tags: Mapping[str, str]) -> None:
    listed = [{"Key": name, "Value": value} for name, value in tags.items()]
    store.client().add_tags_to_resource(ResourceType="Parameter", ResourceId=store._name(key), Tags=listed)


def _gcp(store: Any, key: str, tags: Mapping[str, str]) -> None:
    secret = store.client.get_secret(request={"name": store._name(key)})
    labels = {**dict(secret.labels), **tags}
    store.client.update_secret(
        request={"secret": {"name": secret.name, "labels": labels}, "update_mask": {"paths": ["labels"]}}
    )


def _kubernetes(store: Any, key: str, tags: Mapping[str, str]) -> None:
    namespace, name = store._locate(key)
    store.core.patch_namespaced_secret(name, namespace, {"metadata": {"labels": dict(tags)}})


def _azure(store: Any, key: str, tags: Mapping[str, str]) -> None:
    name = store._name(key)
    current = store.client.get_secret(name).properties.tags or {}
    store.client.update_secret_properties(name, tags={**current, **tags})


TAGGERS: dict[str, Callable[[Any, str, Mapping[str, str]], None]] = {
    "vault": _vault,
    "aws": _aws,
    "awsParameterStore": _parameter_store,
    "gcp": _gcp,
    "kubernetes": _kubernetes,
    "azureKeyVault": _azure,
}
# A tag of our own ownership marker on every secret this tool writes, per store kind.
MARKER_TAGS = {
    "vault": ("secret-sync.job", "job-a"),
    "aws": ("secret-sync:job", "job-a"),
    "awsParameterStore": ("secret-sync:job", "job-a"),
    "gcp": ("secret_sync_job", "job-a"),
    "kubernetes": ("app.kubernetes.io/managed-by", "airflow-secret-sync"),
    "azureKeyVault": ("secret-sync.job", "job-a"),
}
SECRETS = {
    "sel-orders": {"team": "payments", "env": "prod", "cost-center2": "cc-42"},
    "sel-ledger": {"team": "payments", "env": "dev"},
    "sel-legacy": {"team": "payments-archive", "env": "prod"},
    "sel-mixup": {"teams": "payments", "owner": "payments"},
    "sel-plain": {},
    "other-orders": {"team": "payments", "env": "prod"},
}


def kind_of(store: SecretStoreBackend) -> str:
    return str(getattr(store, "kind"))  # noqa: B009 - every registered store is a ProviderStore


def test_tags_select_exactly_the_secrets_carrying_each_one_but_never_our_marker(
    store: SecretStoreBackend,
) -> None:
    kind = kind_of(store)
    if kind not in TAGGERS:
        with pytest.raises(Misconfigured, match="holds no tags"):
            store.list_tagged({"team": "payments"})
        return
    for key, tags in SECRETS.items():
        store.write(key, to_kind("v", store.value_kind), OURS)
        if tags:
            TAGGERS[kind](store, key, tags)
    assert store.list_tagged({"team": "payments"}, "sel-") == ["sel-ledger", "sel-orders"]
    assert store.list_tagged({"team": "payments", "env": "prod"}, "sel-") == ["sel-orders"]
    assert store.list_tagged({"team": "payments", "env": "prod"}) == ["other-orders", "sel-orders"]
    assert store.list_tagged({"team": "payment"}) == []  # no prefix match (AWS filters match prefixes)
    assert store.list_tagged({"owner": "payments", "teams": "payments"}, "sel-") == ["sel-mixup"]
    assert store.list_tagged({"team": "nobody"}) == []
    # a name with digits and '-' (GCP compares those on the answer, not in its filter)
    assert store.list_tagged({"cost-center2": "cc-42", "team": "payments"}) == ["sel-orders"]
    # every secret carries our marker: asked for as if it were someone's tag, it selects none of them
    name, value = MARKER_TAGS[kind]
    assert store.list_tagged({name: value}) == []
