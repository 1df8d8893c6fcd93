"""The request checks Secret Manager makes: ids, locations, labels, annotations, payload encoding, fields."""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_secret_sync.testing.gcp.errors import invalid

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_LABELS = 64
MAX_ANNOTATIONS_BYTES = 16 * 1024

# Cloud regions where Secret Manager keeps regional secrets and user-managed replicas
# (https://cloud.google.com/secret-manager/docs/locations); a made-up location is refused as Google does.
REGIONS = frozenset(
    (
        *(
            "africa-south1",
            "asia-east1",
            "asia-east2",
            "asia-northeast1",
            "asia-northeast2",
            "asia-northeast3",
        ),
        *("asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2", "australia-southeast1"),
        *("australia-southeast2", "europe-central2", "europe-north1", "europe-north2", "europe-southwest1"),
        *("europe-west1", "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8"),
        *("europe-west9", "europe-west10", "europe-west12", "me-central1", "me-central2", "me-west1"),
        *("northamerica-northeast1", "northamerica-northeast2", "northamerica-south1", "southamerica-east1"),
        *("southamerica-west1", "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1"),
        *("us-west2", "us-west3", "us-west4"),
    )
)

SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_ANNOTATION_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")

# The request fields the emulator models, per message (JSON names). Google refuses a field its messages do
# not have ("Unknown name"); the emulator also refuses those it does not model, rather than ignore them.
SECRET_FIELDS = frozenset({"name", "replication", "createTime", "labels", "annotations", "etag"})
REPLICATION_FIELDS = frozenset({"automatic", "userManaged"})
AUTOMATIC_FIELDS = frozenset({"customerManagedEncryption"})
USER_MANAGED_FIELDS = frozenset({"replicas"})
REPLICA_FIELDS = frozenset({"location", "customerManagedEncryption"})
CMEK_FIELDS = frozenset({"kmsKeyName"})
ADD_VERSION_FIELDS = frozenset({"payload", "parent"})
PAYLOAD_FIELDS = frozenset({"data", "dataCrc32c"})
VERSION_ACTION_FIELDS = frozenset({"name", "etag"})


def known_fields(body: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    """Refuse a field ``allowed`` does not name, in Google's words."""
    allowed = frozenset(allowed)
    for name in body:
        if name not in allowed:
            raise invalid(
                f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."
            )


def location(value: str | None) -> None:
    """A regional location must be a real region."""
    if value is not None and value not in REGIONS:
        raise invalid(f"Location [{value}] is not a valid location for Secret Manager.")


def secret_id(value: str) -> None:
    """Secret ids: 1-255 letters, digits, underscores and dashes."""
    if not value:
        raise invalid("Field [secret_id] is required.")
    if not SECRET_ID.fullmatch(value):
        raise invalid(
            f"Invalid secret ID [{value}]: IDs must be 1-255 characters of letters, digits, underscores and "
            "dashes."
        )


def _label_chars_ok(text: str, *, key: bool) -> bool:
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category in ("Ll", "Lo"):
            continue
        if key and index == 0:
            return False
        if category.startswith("N") or char in "_-":
            continue
        return False
    return True


def validate_labels(value: Mapping[str, str]) -> None:
    """Label rules: at most 64; keys and values of lowercase letters, digits, ``_`` and ``-``."""
    if len(value) > MAX_LABELS:
        raise invalid(f"The number of labels [{len(value)}] exceeds the maximum of {MAX_LABELS}.")
    for key, text in value.items():
        if not 1 <= len(key) <= 63 or len(key.encode()) > 128 or not _label_chars_ok(key, key=True):
            raise invalid(
                f"Invalid label key [{key}]: keys must be 1-63 characters, start with a lowercase letter "
                "and contain only lowercase letters, digits, underscores and dashes."
            )
        if len(text) > 63 or len(text.encode()) > 128 or not _label_chars_ok(text, key=False):
            raise invalid(
                f"Invalid value [{text}] for label [{key}]: values must be 0-63 characters and contain "
                "only lowercase letters, digits, underscores and dashes."
            )


def validate_annotations(value: Mapping[str, str]) -> None:
    """Annotation rules: key shape, and keys plus values under 16 KiB in all."""
    total = 0
    for key, text in value.items():
        if not _ANNOTATION_KEY.fullmatch(key) or len(key.encode()) > 128:
            raise invalid(
                f"Invalid annotation key [{key}]: keys must be 1-63 characters, begin and end with an "
                "alphanumeric character and contain only alphanumerics, dashes, underscores and dots."
            )
        total += len(key.encode()) + len(text.encode())
    if total >= MAX_ANNOTATIONS_BYTES:
        raise invalid("The total size of annotation keys and values must be less than 16KiB.")


def expect_dict(value: Any, where: str) -> dict[str, Any]:
    """A JSON object (``None`` is empty)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"Invalid value at '{where}': expected an object.")
    return value


def expect_str_map(value: Any, where: str) -> dict[str, str]:
    """A JSON object of strings."""
    mapping = expect_dict(value, where)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise invalid(f"Invalid value at '{where}[{key}]' (TYPE_STRING).")
    return dict(mapping)


def b64decode(text: Any, where: str) -> bytes:
    """Protobuf JSON bytes: base64, standard or URL-safe, padding optional."""
    if not isinstance(text, str):
        raise invalid(f"Invalid value at '{where}' (TYPE_BYTES).")
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise invalid(f"Invalid value at '{where}' (TYPE_BYTES), Base64 decoding failed.") from None


def int64(value: Any, where: str) -> int:
    """Protobuf JSON int64: a number or a decimal string."""
    if isinstance(value, bool):
        raise invalid(f"Invalid value at '{where}' (TYPE_INT64).")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise invalid(f"Invalid value at '{where}' (TYPE_INT64), \"{value}\"")
