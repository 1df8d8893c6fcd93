"""Old import paths kept for one release (``airflow_secret_sync.hooks.*``, ``engine.file_store``): each old
module answers its old names with the moved object and a :class:`DeprecationWarning`."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any


def moved_names(module: str, names: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` answering each old name with the same name in its new module (``names``
    gives it below ``airflow_secret_sync.providers``, e.g. ``"vault.hook"``)."""

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new_module = f"airflow_secret_sync.providers.{names[name]}"
        warnings.warn(
            f"{module}.{name} moved to {new_module}.{name}; the old path goes away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new_module), name)

    return __getattr__
