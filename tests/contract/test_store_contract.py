"""The store contract: what the engine relies on from every ``SecretStoreBackend``, whatever the provider.

Each test runs once per store kind (the ``store`` fixture hands out a fresh, empty store). Only the
interface is used; values go in through :func:`to_kind` and are compared with :func:`equal`, so text stores
and map stores (Vault KV) answer the same questions.
"""

from __future__ import annotations

import pytest

from airflow_secret_sync.engine.installation import Installation
from airflow_secret_sync.engine.store import (
    PROVENANCE_LIMIT,
    Marker,
    SecretStoreBackend,
    TooLarge,
    WriteConflict,
)
from airflow_secret_sync.engine.values import Value, equal, to_kind
from airflow_secret_sync.providers.base import value_size
from airflow_secret_sync.providers.info import ProviderInfo

OURS = Marker(job="job-a", source_store="src", source_key="db/password", source_version="3")
THEIRS = Marker(job="job-b", source_store="other", source_key="x")
# what the engine writes for a composition: several source keys, no single version
COMPOSED = Marker(job="job-a", source_store="src", source_key="db/creds,db-password", source_version="1,2")
# the longest provenance (8 store names of the longest allowed length), property names of any character, an
# installation id, the value hash drift detection compares and the target store written through: every
# provider's metadata limits must hold them (Vault custom_metadata values, AWS tag values, GCP annotations,
# file side-cars)
FAR_TRAVELLED = Marker(
    job="job-a",
    source_store="src",
    source_key="db/creds",
    source_version="7",
    provenance=tuple(f"store-{number}-" + "x" * 54 for number in range(PROVENANCE_LIMIT)),
    properties=tuple(sorted(["api token", "password", "user,name", 'quote"d', "ünïcode"])),
    installation="installation-" + "x" * 50,
    value_hash=Installation("installation", b"key").value_hash("v"),
    adopted_from=Installation("installation", b"key").value_hash("w"),
    target_store="target-" + "x" * 56,
)
# a job that once wrote properties into a shared secret and removed them since
EMPTIED = Marker(job="job-a", source_store="src", source_key="db/creds", properties=())


def put(store: SecretStoreBackend, key: str, value: Value, marker: Marker = OURS) -> str | None:
    """Create or update the way the engine does: converted to the store's kind, with the version just read."""
    current = store.read(key)
    expected = current.version if current is not None else None
    return store.write(key, to_kind(value, store.value_kind), marker, expected_version=expected)


def assert_holds(store: SecretStoreBackend, key: str, value: Value) -> None:
    record = store.read(key)
    assert record is not None, f"{key!r} not found"
    assert equal(record.value, to_kind(value, store.value_kind))


def usable(store: SecretStoreBackend, keys: list[str]) -> list[str]:
    return [key for key in keys if store.check_key(key) is None]


# --------------------------------------------------------------------------------------------- listing


def test_an_empty_store_lists_nothing(store: SecretStoreBackend) -> None:
    assert store.list_keys() == []
    assert store.list_keys("app-", recursive=False) == []
    assert store.list_marked("job-a") == {}


def test_list_by_prefix(store: SecretStoreBackend) -> None:
    for key in ["app-one", "app-two", "apple", "zeta"]:
        put(store, key, "v")
    assert sorted(store.list_keys()) == ["app-one", "app-two", "apple", "zeta"]
    assert sorted(store.list_keys("app-")) == ["app-one", "app-two"]
    assert sorted(store.list_keys("app")) == ["app-one", "app-two", "apple"]
    assert store.list_keys("nothing-") == []


def test_list_recursive_and_not(store: SecretStoreBackend) -> None:
    keys = ["team/a", "team/sub/b", "team-x"]
    if usable(store, keys) != keys:
        pytest.skip("this store has no '/' hierarchy")
    for key in keys:
        put(store, key, "v")
    assert sorted(store.list_keys("team/")) == ["team/a", "team/sub/b"]
    assert store.list_keys("team/", recursive=False) == ["team/a"]
    assert store.list_keys("", recursive=False) == ["team-x"]
    assert sorted(store.list_keys("team")) == ["team-x", "team/a", "team/sub/b"]


# --------------------------------------------------------------------------------------------- values


def test_read_of_a_missing_key_is_none(store: SecretStoreBackend) -> None:
    assert store.read("never-written") is None
    assert store.read_marker("never-written") is None
    assert store.exists("never-written") is False


@pytest.mark.parametrize(
    "value",
    [
        "hunter2",
        "line one\nline two\n",
        "pässwörd-密码-🔑",
        '{"user": "app", "password": "p4ss", "port": 5432}',
        {"user": "app", "password": "p4ss"},
    ],
    ids=["text", "multiline", "unicode", "json-text", "map"],
)
def test_write_read_round_trip(store: SecretStoreBackend, value: Value) -> None:
    version = put(store, "round-trip", value)
    record = store.read("round-trip")
    assert record is not None
    assert record.key == "round-trip"
    assert equal(record.value, to_kind(value, store.value_kind))
    assert record.version is not None and record.version == version
    assert store.exists("round-trip")


def test_a_value_at_the_provider_limit_round_trips_and_one_above_it_is_refused_cleanly(
    store: SecretStoreBackend, request: pytest.FixtureRequest
) -> None:
    """The limit is the cloud's own (the test servers refuse above it as the cloud does): a value within it is
    stored, and one above it is refused by our own check before any call, with nothing written."""
    info: ProviderInfo = request.node.callspec.params["store"]
    limit = info.value_limit(getattr(store, "settings", None))
    if limit is None:  # no limit of the provider's own: 64 KiB round trips
        put(store, "large", "0123456789abcdef" * 4096)
        assert_holds(store, "large", "0123456789abcdef" * 4096)
        return
    with pytest.raises(TooLarge, match=rf"'large'.*{limit}"):
        put(store, "large", "x" * (limit + 1))
    assert store.read("large") is None
    # a map store counts its JSON around the text (Vault) or only the text (Kubernetes): fit either way
    wrapping = value_size(to_kind("x", store.value_kind)) - 1
    put(store, "large", "x" * (limit - wrapping))
    assert_holds(store, "large", "x" * (limit - wrapping))


def test_each_write_makes_a_new_version(store: SecretStoreBackend) -> None:
    first = put(store, "versioned", "one")
    second = put(store, "versioned", "two")
    assert first != second
    record = store.read("versioned")
    assert record is not None and record.version == second
    pinned = store.read("versioned", second)
    assert pinned is not None and equal(pinned.value, to_kind("two", store.value_kind))


def test_a_stale_expected_version_is_a_write_conflict(store: SecretStoreBackend) -> None:
    ours = put(store, "cas", "read-by-us")
    theirs = put(store, "cas", "written-in-between")
    with pytest.raises(WriteConflict):
        store.write("cas", to_kind("ours", store.value_kind), OURS, expected_version=ours)
    assert_holds(store, "cas", "written-in-between")
    store.write("cas", to_kind("ours-on-the-fresh-version", store.value_kind), OURS, expected_version=theirs)
    assert_holds(store, "cas", "ours-on-the-fresh-version")


def test_a_create_over_a_secret_created_in_between_is_a_write_conflict(store: SecretStoreBackend) -> None:
    """No expected version means the engine read the key as absent: someone else's new secret must survive."""
    put(store, "raced", "created-by-job-b", THEIRS)
    with pytest.raises(WriteConflict):
        store.write("raced", to_kind("ours", store.value_kind), OURS, expected_version=None)
    assert_holds(store, "raced", "created-by-job-b")
    assert store.read_marker("raced") == THEIRS


def test_delete(store: SecretStoreBackend) -> None:
    put(store, "doomed", "v")
    put(store, "kept", "v")
    store.delete("doomed")
    assert store.read("doomed") is None
    assert store.read_marker("doomed") is None
    assert not store.exists("doomed")
    assert store.list_keys() == ["kept"]
    assert_holds(store, "kept", "v")


# --------------------------------------------------------------------------------------------- markers


@pytest.mark.parametrize(
    "marker",
    [OURS, THEIRS, COMPOSED, FAR_TRAVELLED, EMPTIED],
    ids=["versioned", "unversioned", "composed", "far-travelled", "emptied"],
)
def test_markers_round_trip(store: SecretStoreBackend, marker: Marker) -> None:
    put(store, "marked", "v", marker)
    record = store.read("marked")
    assert record is not None and record.marker == marker
    assert store.read_marker("marked") == marker


def test_set_marker_changes_ownership_but_not_the_value_or_version(store: SecretStoreBackend) -> None:
    version = put(store, "adopted", "value", OURS)
    store.set_marker("adopted", THEIRS)  # THEIRS has no source version: OURS's must not linger
    record = store.read("adopted")
    assert record is not None
    assert record.marker == THEIRS
    assert record.version == version
    assert equal(record.value, to_kind("value", store.value_kind))
    assert store.read_marker("adopted") == THEIRS


def test_a_new_marker_leaves_nothing_of_the_old_ones_provenance_or_properties(
    store: SecretStoreBackend,
) -> None:
    # field names every provider accepts (Kubernetes data keys take no spaces); the marker's may be anything
    version = put(store, "shared", {"api-token": "t", "other": "o"}, FAR_TRAVELLED)
    store.set_marker("shared", OURS)
    assert store.read_marker("shared") == OURS
    put(store, "shared", {"other": "o"}, FAR_TRAVELLED)
    put(store, "shared", {"other": "o2"}, THEIRS)
    record = store.read("shared")
    assert record is not None and record.marker == THEIRS and record.version != version


def test_list_marked_finds_only_the_jobs_own_secrets(store: SecretStoreBackend) -> None:
    put(store, "mine-1", "v", OURS)
    put(store, "mine-2", "v", COMPOSED)
    put(store, "not-mine", "v", THEIRS)
    assert store.list_marked("job-a") == {"mine-1": OURS, "mine-2": COMPOSED}
    assert store.list_marked("job-b") == {"not-mine": THEIRS}
    assert store.list_marked("job-c") == {}


def test_list_marked_leaves_out_the_keys_to_skip(store: SecretStoreBackend) -> None:
    """The deletion pass skips the keys it just synced: their markers are not needed (nor read)."""
    put(store, "mine-1", "v", OURS)
    put(store, "mine-2", "v", COMPOSED)
    assert store.list_marked("job-a", skip={"mine-1"}) == {"mine-2": COMPOSED}
    assert store.list_marked("job-a", skip={"mine-1", "mine-2", "absent"}) == {}


def test_list_marked_respects_the_prefix(store: SecretStoreBackend) -> None:
    put(store, "app-one", "v", OURS)
    put(store, "web-one", "v", OURS)
    assert store.list_marked("job-a", "app-") == {"app-one": OURS}


# --------------------------------------------------------------------------------------------- keys


ODD_KEYS = [
    "dots.in.name",
    "dash-name",
    "under_score",
    "at@sign",
    "MixedCase-09",
    "with space",
    "slash/inside",
    "plus+equals=",
]


def test_odd_keys_either_round_trip_or_are_refused_with_a_reason(store: SecretStoreBackend) -> None:
    accepted = usable(store, ODD_KEYS)
    for key in set(ODD_KEYS) - set(accepted):
        reason = store.check_key(key)
        assert isinstance(reason, str) and len(reason) > 10, f"{key!r} refused without a reason"
    # Kubernetes names are lowercase DNS subdomains: '_' and capitals are refused there, with a reason
    assert "dash-name" in accepted, "a key valid for every provider"
    for key in accepted:
        put(store, key, f"value of {key}")
    assert sorted(store.list_keys()) == sorted(accepted)
    for key in accepted:
        assert_holds(store, key, f"value of {key}")


def test_path_like_keys_never_leave_the_store(store: SecretStoreBackend) -> None:
    """A store either refuses a key that could climb out of its scope, or keeps it as the exact name."""
    kept = []
    for key in ["../x", "a/../../x", "/x", "./x", "a//b"]:
        reason = store.check_key(key)
        if reason is not None:
            assert len(reason) > 10, f"{key!r} refused without a reason"
            continue
        put(store, key, f"value of {key}")
        kept.append(key)
    assert sorted(store.list_keys()) == sorted(kept)
    for key in kept:
        assert_holds(store, key, f"value of {key}")
