"""The file store: a folder where a key is a relative path and the value is the file's content.

Files are written atomically with mode 0600 (folders 0700). Our metadata (ownership marker, a version
counter) lives in a sidecar tree ``.secret-sync/`` inside the folder, which listings never show. A key
that would leave the folder (``../x``, an absolute path, a link pointing out) is refused, and so is a
sidecar tree that is a symbolic link or holds one on a marker's way: markers are read and written only
inside the folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from collections.abc import Collection
from pathlib import Path

from airflow_secret_sync.engine.store import (
    InvalidName,
    Marker,
    Misconfigured,
    SecretRecord,
    StoreError,
    WriteConflict,
)
from airflow_secret_sync.engine.values import Value, as_text
from airflow_secret_sync.providers.base import ProviderStore, payload_value
from airflow_secret_sync.providers.file.spec import SIDECAR_DIR, FileProvider, file_key_problem

LOCK_STRIPES = 64


class FileSecretStore(ProviderStore):
    """Secrets as files below ``root``."""

    kind = "file"
    label = "file store"
    value_kind = "text"

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        create: bool = True,
        store_name: str = "file",
        settings: FileProvider | None = None,
    ) -> None:
        self.root = Path(root)
        self.store_name = store_name
        self.settings = settings
        self._create = create
        # A lock per stripe of keys: each key's check-and-set stays atomic, while writes of different keys
        # (two fsyncs each) overlap up to the job's concurrency instead of queueing behind one lock.
        self._locks = tuple(threading.Lock() for _ in range(LOCK_STRIPES))
        self._resolved_bases: dict[str, Path] = {}

    def check_connection(self) -> tuple[bool, str]:
        """Whether the folder is there: ``(ok, message)``, as Airflow's connection test shows it."""
        if self.root.is_dir():
            return True, f"folder {str(self.root)!r} is readable"
        return False, f"folder {str(self.root)!r} does not exist"

    def _lock(self, key: str) -> threading.Lock:
        return self._locks[hash(key) % LOCK_STRIPES]

    # ----------------------------------------------------------------------------------------- paths

    def check_key(self, key: str) -> str | None:
        return file_key_problem(key)

    def _path(self, key: str, base: str | None = None) -> str:
        """The file of ``key`` below ``base`` (the store's folder), as text: ``pathlib`` costs more than the
        reads themselves on a store of small files."""
        problem = file_key_problem(key)
        if problem:
            raise InvalidName(f"key {key!r}: {problem}")
        base = base if base is not None else os.fspath(self.root)
        path = f"{base}/{key}"
        # The key is lexically inside ``base`` (checked above): only a link on the way can lead out. Looking
        # for one costs an lstat per key segment; resolving the whole path costs one per segment from "/".
        if _through_link(base, key) and not Path(path).resolve().is_relative_to(self._resolved(base)):
            raise InvalidName(f"key {key!r}: resolves outside the store's folder")
        return path

    def _resolved(self, base: str) -> Path:
        """``base`` resolved once per store: resolving is a system call per path segment, on every read."""
        resolved = self._resolved_bases.get(base)
        if resolved is None:
            resolved = self._resolved_bases[base] = Path(base).resolve()
        return resolved

    def _meta_path(self, key: str) -> str:
        """The marker side-car of ``key``; refused when a link could take it out of the store's folder."""
        sidecar = f"{os.fspath(self.root)}/{SIDECAR_DIR}"
        # a link as the side-car folder would be resolved (and so trusted) by _path's check: refuse it first
        if os.path.islink(sidecar):
            raise Misconfigured(
                f"folder {str(self.root)!r}: {SIDECAR_DIR}/ is a symbolic link; markers are kept only inside "
                "the store's folder, so nothing is read or written through it"
            )
        path = self._path(key, sidecar) + ".meta.json"
        if os.path.islink(path):
            raise Misconfigured(f"key {key!r}: its marker file is a symbolic link; refused")
        return path

    def _ensure_root(self) -> None:
        if not self.root.is_dir():
            if not self._create:
                raise Misconfigured(f"folder {str(self.root)!r} does not exist")
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    # ----------------------------------------------------------------------------------------- interface

    def list_keys(self, path: str = "", *, recursive: bool = True) -> list[str]:
        """Keys starting with ``path``; without ``recursive``, only those with no ``/`` after it."""
        if not self.root.is_dir():
            raise Misconfigured(f"cannot list: folder {str(self.root)!r} does not exist")
        folder = self.root / path.rpartition("/")[0] if "/" in path else self.root
        if not folder.resolve().is_relative_to(self.root.resolve()):
            raise InvalidName(f"path {path!r} resolves outside the store's folder")
        if not folder.is_dir():
            return []
        keys: list[str] = []
        root = os.fspath(self.root)
        try:
            for directory, folders, files in os.walk(folder, onerror=_raise):
                relative = directory[len(root) + 1 :]  # os.walk joins names onto the folder it was given
                folders[:] = sorted(name for name in folders if relative or name != SIDECAR_DIR)
                prefix = f"{relative}/" if relative else ""
                keys.extend(prefix + name for name in files if not name.startswith(".tmp-"))
        except OSError as err:
            raise StoreError(f"cannot list folder {str(folder)!r}: {err.strerror}") from None
        keys = [key for key in keys if key.startswith(path)]
        if not recursive:
            keys = [key for key in keys if "/" not in key[len(path) :]]
        return sorted(keys)

    def _read_meta(self, key: str) -> dict[str, str]:
        try:
            with open(self._meta_path(key), encoding="utf-8") as handle:
                data = json.loads(handle.read())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise StoreError(f"key {key!r}: unreadable metadata sidecar: {err}") from None
        return {str(name): str(value) for name, value in data.items()}

    def read(self, key: str, version: str | None = None) -> SecretRecord | None:
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            return None
        except OSError as err:
            raise StoreError(f"key {key!r}: cannot read: {err.strerror}") from None
        meta = self._read_meta(key)
        current = meta.get("version", "1")
        if version is not None and str(version) != current:
            raise StoreError(
                f"key {key!r}: version {version} is not available (the file store keeps only the latest)"
            )
        return SecretRecord(
            key=key,
            value=payload_value(data),
            version=current,
            marker=Marker.from_fields(meta),
            metadata=meta,
        )

    def list_marked(self, job: str, path: str = "", *, skip: Collection[str] = ()) -> dict[str, Marker]:
        # a target folder that does not exist yet holds nothing of ours (a source folder that is missing
        # stays an error in list_keys: a plan must never be driven by a folder that vanished)
        if not self.root.exists():
            return {}
        return super().list_marked(job, path, skip=skip)

    def read_marker(self, key: str) -> Marker | None:
        return Marker.from_fields(self._read_meta(key))

    def exists(self, key: str) -> bool:
        return os.path.isfile(self._path(key))

    def write(
        self, key: str, value: Value, marker: Marker, *, expected_version: str | None = None
    ) -> str | None:
        path = Path(self._path(key))
        text = as_text(value)
        data = text.encode() if isinstance(text, str) else text
        with self._lock(key):
            self._ensure_root()
            meta = self._read_meta(key)
            exists = path.is_file()
            current = meta.get("version", "1") if exists else None
            if expected_version is None and current is not None:  # read as absent: only a create is safe
                raise WriteConflict(f"key {key!r}: created by someone else since it was read")
            if expected_version is not None and current != expected_version:
                raise WriteConflict(
                    f"key {key!r}: changed since it was read (version {current}, expected {expected_version})"
                )
            version = str(int(current) + 1) if current else "1"
            blocker = next((parent for parent in path.parents if parent.is_file()), None)
            if blocker is not None:
                raise StoreError(
                    f"key {key!r}: {blocker.relative_to(self.root).as_posix()!r} is a secret (a file), "
                    "so it cannot also hold other keys"
                )
            _atomic_write(path, data)
            _atomic_write(
                Path(self._meta_path(key)), json.dumps({**marker.as_fields(), "version": version}).encode()
            )
        return version

    def set_marker(self, key: str, marker: Marker) -> None:
        with self._lock(key):
            # replace the whole old marker (a field it had, such as source-version, must not survive)
            kept = {name: value for name, value in self._read_meta(key).items() if name == "version"}
            _atomic_write(Path(self._meta_path(key)), json.dumps({**marker.as_fields(), **kept}).encode())

    def delete(self, key: str) -> None:
        path = self._path(key)
        meta_path = self._meta_path(key)  # refused before the value goes, if it must be
        with self._lock(key):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as err:
                raise StoreError(f"key {key!r}: cannot delete: {err.strerror}") from None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(meta_path)


def _through_link(base: str, key: str) -> bool:
    """Whether a segment of ``key`` below ``base`` is a symbolic link (a missing segment is none)."""
    current = base
    for part in key.split("/"):
        current = f"{current}/{part}"
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return True
        except OSError:
            return False  # missing, or below a file: nothing further down exists
    return False


def _raise(err: OSError) -> None:
    raise err


def _private_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents with mode 0700 (``mkdir(parents=True)`` would use 0755)."""
    missing: list[Path] = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        each.mkdir(mode=0o700, exist_ok=True)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 so that readers see the old or the new file, never half."""
    _private_folders(path.parent)
    temporary = path.with_name(f".tmp-{path.name}-{os.getpid()}-{threading.get_ident()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
