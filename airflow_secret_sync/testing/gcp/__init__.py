"""Offline emulator of Google Cloud Secret Manager v1, for tests (the ``[testing]`` extra).

It speaks the REST/JSON protocol that ``google-cloud-secret-manager`` uses with ``transport="rest"`` (and,
optionally, gRPC), keeps everything in memory and follows the service's rules for what the provider uses:
resource names, version numbering and ``latest``, version states, etags, CRC32C, label and annotation
rules, real regions only, unknown request fields refused, the ``name``/``labels``/``state`` filters,
pagination, and Google's error bodies. :class:`Faults` adds what the real service does on a bad day:
quota errors, 503s, a 504 after the write landed, short and empty list pages.

Modules: :mod:`.storage` (state and RPCs), :mod:`.validation` (request checks), :mod:`.filters`,
:mod:`.faults`, :mod:`.rest` (HTTP routes, server, :class:`SecretManagerEmulator`), :mod:`.grpc_server`.

Run it: ``python -m airflow_secret_sync.testing.gcp --port 0``, or in-process::

    with SecretManagerEmulator() as emulator:
        client = emulator.client()
"""

from __future__ import annotations

from airflow_secret_sync.testing.gcp.errors import ApiError
from airflow_secret_sync.testing.gcp.faults import Faults
from airflow_secret_sync.testing.gcp.rest import RestApp, SecretManagerEmulator
from airflow_secret_sync.testing.gcp.storage import SecretManagerBackend
from airflow_secret_sync.testing.gcp.validation import MAX_PAYLOAD_BYTES, REGIONS

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "REGIONS",
    "ApiError",
    "Faults",
    "RestApp",
    "SecretManagerBackend",
    "SecretManagerEmulator",
]
