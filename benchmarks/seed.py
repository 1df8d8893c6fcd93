"""Seed source stores with N secrets and change 1% of them, directly (not through the counting proxies)."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.clients import VaultRaw

FOLDER_SIZE = 100  # keys per folder: a listing needs one call per folder on Vault


def key_names(n: int) -> list[str]:
    return [f"svc-{i // FOLDER_SIZE:04d}/key-{i:06d}" for i in range(n)]


def changed_keys(n: int, fraction: float = 0.01) -> list[str]:
    """Every ``1 / fraction``-th key: 1% of them by default."""
    step = max(1, round(1 / fraction))
    return key_names(n)[::step]


def vault_value(index: int) -> dict[str, str]:
    return {"username": f"user-{index}", "password": secrets.token_urlsafe(24)}


def file_value() -> str:
    return secrets.token_urlsafe(32)


def seed_vault(url: str, token: str, prefix: str, keys: list[str], workers: int = 16) -> None:
    store = VaultRaw(url, token, prefix, pool=workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(
            pool.map(
                lambda pair: store.put_plain(pair[1], vault_value(pair[0])), enumerate(keys), chunksize=32
            )
        )


def seed_files(root: Path, keys: list[str]) -> None:
    for key in keys:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(file_value())
