"""Deprecated: moved to ``airflow_secret_sync.providers``; these names stay importable for one release."""

from __future__ import annotations

from airflow_secret_sync.providers.moved import moved_names

__getattr__ = moved_names(
    __name__,
    {
        "ANNOTATIONS_LIMIT_BYTES": "gcp.store",
        "ANNOTATION_PREFIX": "gcp.marker",
        "ANNOTATION_VERSIONS": "gcp.marker",
        "DEFAULT_RETRY_DEADLINE": "gcp.conn",
        "DEFAULT_SCOPES": "gcp.conn",
        "DEFAULT_TIMEOUT": "gcp.conn",
        "FILTER_CHARS": "gcp.store",
        "GcpConnectionSettings": "gcp.conn",
        "GcpSecretManagerHook": "gcp.hook",
        "LABEL_JOB": "gcp.marker",
        "LABEL_MANAGED_BY": "gcp.marker",
        "LEGACY_EXTRA_PREFIX": "gcp.conn",
        "LISTING_PAGES": "gcp.store",
        "LISTING_PAGE_SIZE": "gcp.store",
        "MARKER_ANNOTATIONS": "gcp.marker",
        "METADATA_ATTEMPTS": "gcp.store",
        "PAYLOAD_LIMIT_BYTES": "gcp.spec",
        "TRACKED_VERSIONS_CAP": "gcp.marker",
        "TRANSIENT_ERRORS": "gcp.conn",
        "TRANSPORTS": "gcp.conn",
        "build_client": "gcp.conn",
        "build_credentials": "gcp.conn",
        "label_value": "gcp.marker",
        "marker_annotations": "gcp.marker",
        "marker_labels": "gcp.marker",
        "marker_of": "gcp.marker",
        "tracked_versions": "gcp.marker",
        "transient_retry": "gcp.conn",
    },
)
