"""Failures the real service produces and a quiet emulator never would, switched on per test.

- :meth:`Faults.fail` answers the next N calls of some RPCs with an error *before* anything is written:
  ``RESOURCE_EXHAUSTED`` (HTTP 429, with the quota details Google sends), ``UNAVAILABLE`` (503), ...
- ``after_commit=True`` lets the call do its work and then fails it, as a ``504 DEADLINE_EXCEEDED`` after the
  write landed does: a client that retries blindly writes twice.
- :meth:`Faults.short_pages` makes the next list responses shorter than asked (``0``: an empty page that
  still carries a next-page token): ``pageSize`` is a maximum, not a promise.

Over HTTP: ``POST /emulator/faults`` with ``{"fail": [{"status": "UNAVAILABLE", "rpcs": ["AddSecretVersion"],
"times": 2, "afterCommit": false}], "pageSizes": [0, 1]}``; ``DELETE /emulator/faults`` clears them, as does
a reset.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_secret_sync.testing.gcp.errors import ApiError

SERVICE = "secretmanager.googleapis.com"


@dataclass
class _Failure:
    status: str
    rpcs: frozenset[str]
    times: int
    after_commit: bool

    def matches(self, rpc: str, after_commit: bool) -> bool:
        return self.times > 0 and self.after_commit == after_commit and (not self.rpcs or rpc in self.rpcs)


def error_for(status: str, rpc: str) -> ApiError:
    """The error Google answers with for ``status``."""
    if status == "RESOURCE_EXHAUSTED":
        return ApiError(
            status,
            f"Quota exceeded for quota metric 'Requests' and limit 'Requests per minute' of service "
            f"'{SERVICE}'.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "RATE_LIMIT_EXCEEDED",
                    "domain": "googleapis.com",
                    "metadata": {"service": SERVICE, "method": rpc},
                }
            ],
        )
    if status == "UNAVAILABLE":
        return ApiError(status, "The service is currently unavailable.")
    if status == "DEADLINE_EXCEEDED":
        return ApiError(status, "Deadline exceeded.")
    return ApiError(status, f"Injected {status}.")


class Faults:
    """The faults switched on; thread-safe, consumed as requests arrive."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: list[_Failure] = []
        self._page_sizes: list[int] = []

    def fail(
        self, status: str, *, rpcs: Iterable[str] = (), times: int = 1, after_commit: bool = False
    ) -> None:
        """Answer the next ``times`` calls of ``rpcs`` (all RPCs when empty) with ``status``."""
        with self._lock:
            self._failures.append(_Failure(status, frozenset(rpcs), times, after_commit))

    def short_pages(self, *sizes: int) -> None:
        """The next list responses hold at most these many items, one size per response."""
        with self._lock:
            self._page_sizes.extend(sizes)

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._failures.clear()
            self._page_sizes.clear()

    def configure(self, settings: Mapping[str, Any]) -> None:
        """Faults from their JSON form (the ``/emulator/faults`` body)."""
        for item in settings.get("fail") or []:
            self.fail(
                str(item["status"]),
                rpcs=item.get("rpcs") or (),
                times=int(item.get("times", 1)),
                after_commit=bool(item.get("afterCommit", False)),
            )
        self.short_pages(*(int(size) for size in settings.get("pageSizes") or []))

    def check(self, rpc: str, *, after_commit: bool) -> None:
        """Raise the fault due for ``rpc`` at this point of the call, if any."""
        with self._lock:
            failure = next((f for f in self._failures if f.matches(rpc, after_commit)), None)
            if failure is None:
                return
            failure.times -= 1
        raise error_for(failure.status, rpc)

    def page_limit(self) -> int | None:
        """The size cap of this list response, if a short page is due."""
        with self._lock:
            return self._page_sizes.pop(0) if self._page_sizes else None
