"""Parameter Store change signal: ``Version`` and ``LastModifiedDate`` from ``DescribeParameters``."""

from __future__ import annotations

from airflow_secret_sync.providers.aws_parameter_store.store import AwsParameterStore


def change_signals(store: AwsParameterStore, path: str) -> dict[str, str]:
    """Key -> ``version@last_modified`` below ``path``, from the paged description (no value read)."""
    start = store.settings.path_prefix + path
    signals: dict[str, str] = {}
    for parameter in store._described(store._path_filters(start, True)):
        key = store._key(parameter["Name"])
        if key is not None and key.startswith(path):
            signals[key] = f"{parameter['Version']}@{parameter.get('LastModifiedDate', '')}"
    return signals
