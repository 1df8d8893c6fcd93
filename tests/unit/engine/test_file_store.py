"""The file store: private files, hidden metadata, no way out of the folder, atomic writes, versions, CAS."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from airflow_secret_sync.engine.store import InvalidName, Marker, Misconfigured, StoreError, WriteConflict
from airflow_secret_sync.providers.file import store as file_store
from airflow_secret_sync.providers.file.store import SIDECAR_DIR, FileSecretStore

MARKER = Marker(job="job-1", source_store="vault", source_key="db/password", source_version="7")


@pytest.fixture
def store(tmp_path: Path) -> FileSecretStore:
    return FileSecretStore(tmp_path / "secrets")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_and_their_metadata_are_private(store: FileSecretStore) -> None:
    store.write("team/app/db", "hunter2", MARKER)
    files = [path for path in store.root.rglob("*") if path.is_file()]
    folders = [store.root, *(path for path in store.root.rglob("*") if path.is_dir())]
    assert len(files) == 2  # the secret and its metadata sidecar
    assert {
        path.relative_to(store.root).as_posix(): mode(path) for path in files if SIDECAR_DIR not in path.parts
    } == {"team/app/db": 0o600}
    assert all(mode(path) == 0o600 for path in files)
    # every folder, the intermediate ones and the sidecar tree included: folder names are key names too
    assert {path.relative_to(store.root).as_posix(): mode(path) for path in folders} == {
        ".": 0o700,
        "team": 0o700,
        "team/app": 0o700,
        SIDECAR_DIR: 0o700,
        f"{SIDECAR_DIR}/team": 0o700,
        f"{SIDECAR_DIR}/team/app": 0o700,
    }


def test_the_file_holds_exactly_the_value(store: FileSecretStore) -> None:
    store.write("a", "line1\nline2\n", MARKER)
    store.write("bin", b"\x00\xff", MARKER)
    store.write("map", {"b": 1, "a": "x"}, MARKER)
    assert (store.root / "a").read_text() == "line1\nline2\n"
    assert (store.root / "bin").read_bytes() == b"\x00\xff"
    assert (store.root / "map").read_text() == '{"a":"x","b":1}'
    record = store.read("bin")
    assert record is not None and record.value == b"\x00\xff"


def test_sidecar_metadata_never_shows_in_listings(store: FileSecretStore) -> None:
    store.write("a", "1", MARKER)
    store.write("dir/b", "2", MARKER)
    (store.root / ".tmp-a-123-456").write_text("half written")
    assert store.list_keys() == ["a", "dir/b"]
    assert store.list_keys(SIDECAR_DIR) == []


def test_the_sidecar_folder_cannot_be_used_as_a_key(store: FileSecretStore) -> None:
    problem = store.check_key(f"{SIDECAR_DIR}/a.meta.json")
    assert problem is not None and "reserved" in problem
    with pytest.raises(InvalidName):
        store.write(f"{SIDECAR_DIR}/a.meta.json", "{}", MARKER)


def test_files_placed_by_hand_are_secrets_without_our_marker(store: FileSecretStore) -> None:
    (store.root / "ops").mkdir(parents=True)
    (store.root / "ops/token").write_text("abc")
    record = store.read("ops/token")
    assert record is not None
    assert (record.value, record.version, record.marker) == ("abc", "1", None)
    assert store.list_marked("job-1") == {}


@pytest.mark.parametrize(
    "key", ["../x", "a/../../x", "/etc/passwd", "a//b", "./a", "a/", "", "a\\b", "a\x00b"]
)
def test_keys_that_would_leave_the_folder_are_refused(store: FileSecretStore, key: str) -> None:
    assert store.check_key(key) is not None
    for call in (lambda: store.write(key, "x", MARKER), lambda: store.read(key), lambda: store.delete(key)):
        with pytest.raises(InvalidName):
            call()
    assert not (store.root.parent / "x").exists()


def test_a_folder_symlink_pointing_outside_is_refused(store: FileSecretStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("theirs")
    store.root.mkdir()
    (store.root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidName, match="outside"):
        store.write("link/victim", "ours", MARKER)
    with pytest.raises(InvalidName, match="outside"):
        store.read("link/victim")
    with pytest.raises(InvalidName, match="outside"):
        store.delete("link/victim")
    assert (outside / "victim").read_text() == "theirs"


def test_a_folder_swapped_for_a_link_after_a_read_is_refused(store: FileSecretStore, tmp_path: Path) -> None:
    """A folder replaced by a link between two runs of a job is not followed out of the store."""
    store.write("app/db", "ours", MARKER)
    assert store.read("app/db") is not None
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "db").write_text("theirs")
    shutil.rmtree(store.root / "app")
    (store.root / "app").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidName, match="outside"):
        store.read("app/db")
    with pytest.raises(InvalidName, match="outside"):
        store.write("app/db", "ours again", MARKER, expected_version="1")
    assert (outside / "db").read_text() == "theirs"


def test_a_link_inside_the_folder_is_followed(store: FileSecretStore) -> None:
    store.write("real/db", "ours", MARKER)
    (store.root / "alias").symlink_to(store.root / "real", target_is_directory=True)
    record = store.read("alias/db")
    assert record is not None and record.value == "ours"


def test_a_file_symlink_pointing_outside_is_refused(store: FileSecretStore, tmp_path: Path) -> None:
    outside = tmp_path / "passwd"
    outside.write_text("root:x:0:0")
    store.root.mkdir()
    (store.root / "innocent").symlink_to(outside)
    with pytest.raises(InvalidName):
        store.read("innocent")
    with pytest.raises(InvalidName):
        store.write("innocent", "overwritten", MARKER)
    assert outside.read_text() == "root:x:0:0"


def files_below(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and not path.is_symlink()
    }


def test_a_sidecar_folder_that_is_a_link_is_refused_and_nothing_is_written(
    store: FileSecretStore, tmp_path: Path
) -> None:
    store.write("db", "old-value-01", MARKER)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.move(store.root / SIDECAR_DIR, outside / "markers")
    (store.root / SIDECAR_DIR).symlink_to(outside / "markers")
    before = files_below(tmp_path)
    for attempt in (
        lambda: store.write("db", "new-value-02", MARKER, expected_version="1"),
        lambda: store.write("new", "new-value-03", MARKER),
        lambda: store.set_marker("db", Marker("job-2", "src", "db")),
        lambda: store.delete("db"),
        lambda: store.read("db"),
        lambda: store.list_marked("job-1"),
    ):
        with pytest.raises(Misconfigured, match=r"\.secret-sync/ is a symbolic link"):
            attempt()
    assert files_below(tmp_path) == before


def test_a_marker_file_that_is_a_link_out_of_the_folder_is_refused(
    store: FileSecretStore, tmp_path: Path
) -> None:
    store.write("db", "old-value-01", MARKER)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"managed-by": "airflow-secret-sync", "job": "job-1", "version": "1"}')
    meta = store.root / SIDECAR_DIR / "db.meta.json"
    meta.unlink()
    meta.symlink_to(elsewhere)
    with pytest.raises(Misconfigured, match="marker file is a symbolic link"):
        store.read_marker("db")
    with pytest.raises(Misconfigured):
        store.write("db", "new-value-02", MARKER, expected_version="1")
    assert (store.root / "db").read_text() == "old-value-01"
    assert "version" in elsewhere.read_text() and "source-store" not in elsewhere.read_text()


def test_a_sidecar_subfolder_that_links_out_is_refused(store: FileSecretStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.root / SIDECAR_DIR).mkdir(parents=True)
    (store.root / SIDECAR_DIR / "app").symlink_to(outside)
    with pytest.raises(InvalidName, match="outside the store's folder"):
        store.write("app/db", "value-01", MARKER)
    assert list(outside.iterdir()) == [] and not (store.root / "app").exists()


def test_listing_a_path_outside_the_folder_is_refused(store: FileSecretStore) -> None:
    store.write("a", "1", MARKER)
    with pytest.raises(InvalidName):
        store.list_keys("../")


def test_a_failed_write_leaves_the_old_value_and_no_temporary_file(
    store: FileSecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write("db", "old-value", MARKER)

    def crash(source: object, destination: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(file_store.os, "replace", crash)
    with pytest.raises(OSError, match="No space left"):
        store.write("db", "new-value", MARKER, expected_version="1")
    monkeypatch.undo()
    assert (store.root / "db").read_text() == "old-value"
    assert sorted(path.name for path in store.root.iterdir()) == [SIDECAR_DIR, "db"]
    record = store.read("db")
    assert record is not None and record.version == "1"


def test_versions_count_up_and_only_the_latest_can_be_read(store: FileSecretStore) -> None:
    assert store.write("a", "1", MARKER) == "1"
    assert store.write("a", "2", MARKER, expected_version="1") == "2"
    assert store.write("a", "3", MARKER, expected_version="2") == "3"
    record = store.read("a", version="3")
    assert record is not None and (record.value, record.version) == ("3", "3")
    with pytest.raises(StoreError, match="version 1 is not available"):
        store.read("a", version="1")


def test_check_and_set_refuses_a_stale_version(store: FileSecretStore) -> None:
    version = store.write("a", "mine", MARKER)
    store.write("a", "someone else's", MARKER, expected_version=version)
    with pytest.raises(WriteConflict, match="changed since it was read"):
        store.write("a", "mine again", MARKER, expected_version=version)
    record = store.read("a")
    assert record is not None and record.value == "someone else's"


def test_a_create_refuses_a_key_created_in_between(store: FileSecretStore) -> None:
    """No expected version means the key was read as absent: a secret created since must survive."""
    store.write("a", "created-by-another-job", Marker(job="job-2", source_store="aws", source_key="k"))
    with pytest.raises(WriteConflict, match="created by someone else"):
        store.write("a", "ours", MARKER)
    assert store.read_marker("a").job == "job-2"  # type: ignore[union-attr]


def test_check_and_set_refuses_a_key_deleted_in_between(store: FileSecretStore) -> None:
    version = store.write("a", "mine", MARKER)
    store.delete("a")
    with pytest.raises(WriteConflict):
        store.write("a", "mine again", MARKER, expected_version=version)
    assert store.read("a") is None


def test_set_marker_keeps_value_and_version(store: FileSecretStore) -> None:
    store.write("a", "value", MARKER)
    other = Marker(job="job-2", source_store="aws", source_key="k")
    store.set_marker("a", other)
    record = store.read("a")
    assert record is not None
    assert (record.value, record.version, record.marker) == ("value", "1", other)


def test_list_by_prefix_and_depth(store: FileSecretStore) -> None:
    for key in ["app", "app/db", "app/db/password", "app/web", "apple", "other/x"]:
        if key in ("app", "app/db"):
            continue  # a key cannot be both a file and a folder
        store.write(key, "v", MARKER)
    store.write("app.txt", "v", MARKER)
    assert store.list_keys("app/") == ["app/db/password", "app/web"]
    assert store.list_keys("app/", recursive=False) == ["app/web"]
    assert store.list_keys("app") == ["app.txt", "app/db/password", "app/web", "apple"]
    assert store.list_keys("app", recursive=False) == ["app.txt", "apple"]
    assert store.list_keys("", recursive=False) == ["app.txt", "apple"]
    assert store.list_keys("app/d") == ["app/db/password"]
    assert store.list_keys("nothing/") == []


def test_a_key_below_an_existing_secret_is_refused(store: FileSecretStore) -> None:
    store.write("db", "v", MARKER)
    with pytest.raises(StoreError, match="'db' is a secret"):
        store.write("db/password", "v", MARKER)


def test_delete_removes_the_secret_and_its_metadata(store: FileSecretStore) -> None:
    store.write("a/b", "v", MARKER)
    store.delete("a/b")
    store.delete("a/b")  # deleting twice is not an error
    assert store.read("a/b") is None
    assert store.read_marker("a/b") is None
    assert not store.exists("a/b")
    assert store.list_marked("job-1") == {}


def test_a_missing_folder_is_an_error_for_listing_never_an_empty_store(tmp_path: Path) -> None:
    store = FileSecretStore(tmp_path / "absent", create=False)
    with pytest.raises(StoreError, match="does not exist"):
        store.list_keys()
    with pytest.raises(StoreError, match="does not exist"):
        store.write("a", "v", MARKER)
    assert not (tmp_path / "absent").exists()


def test_the_folder_is_created_on_first_write_by_default(tmp_path: Path) -> None:
    store = FileSecretStore(tmp_path / "new" / "secrets")
    store.write("a", "v", MARKER)
    assert (tmp_path / "new" / "secrets" / "a").is_file()


def test_an_unreadable_metadata_sidecar_is_an_error_not_a_missing_marker(store: FileSecretStore) -> None:
    store.write("a", "v", MARKER)
    [sidecar] = (store.root / SIDECAR_DIR).rglob("*.meta.json")
    sidecar.write_text("{not json")
    with pytest.raises(StoreError, match="unreadable metadata"):
        store.read_marker("a")
