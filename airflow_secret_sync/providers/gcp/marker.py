"""The ownership marker in Secret Manager metadata.

Labels ``secret_sync_managed_by`` and ``secret_sync_job`` let a listing filter our secrets server-side, and
annotations ``secret-sync.<field>`` keep the exact marker fields (label syntax cannot hold them). Annotation
``secret-sync.versions`` lists the versions this tool wrote, newest first, for ``keepVersions``.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_secret_sync.engine.store import MARKER_FIELD_NAMES, MARKER_MANAGED_BY, Marker
from airflow_secret_sync.providers.gcp.spec import LABEL_JOB, LABEL_MANAGED_BY

ANNOTATION_PREFIX = "secret-sync."
ANNOTATION_VERSIONS = "secret-sync.versions"
MARKER_ANNOTATIONS = frozenset(ANNOTATION_PREFIX + name for name in MARKER_FIELD_NAMES)
# Without keepVersions the list of versions we wrote is capped, so the annotation stays small.
TRACKED_VERSIONS_CAP = 50


def label_value(text: str) -> str:
    """``text`` in label syntax (lowercase letters, digits, ``_``, ``-``; at most 63 characters)."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def marker_labels(marker: Marker) -> dict[str, str]:
    return {LABEL_MANAGED_BY: label_value(MARKER_MANAGED_BY), LABEL_JOB: label_value(marker.job)}


def marker_annotations(marker: Marker) -> dict[str, str]:
    return {ANNOTATION_PREFIX + name: text for name, text in marker.as_fields().items()}


def marker_of(secret: Any) -> Marker | None:
    """The ownership marker in a secret's annotations, or ``None``."""
    annotations = dict(secret.annotations)
    return Marker.from_fields(
        {
            name[len(ANNOTATION_PREFIX) :]: text
            for name, text in annotations.items()
            if name in MARKER_ANNOTATIONS
        }
    )


def tracked_versions(secret: Any) -> list[str]:
    """The versions this tool wrote (newest first), from annotation ``secret-sync.versions``."""
    text = dict(secret.annotations).get(ANNOTATION_VERSIONS, "")
    return [part for part in (item.strip() for item in text.split(",")) if part.isdigit()]
