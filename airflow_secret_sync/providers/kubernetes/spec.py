"""The ``kubernetes`` provider block of a ``SecretStore``: which Secrets it sees, how it writes them."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from airflow_secret_sync.spec.base import SpecModel

ALL_NAMESPACES = "*"
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
HELM_RELEASE = "helm.sh/release.v1"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# the documented syntax of a Secret type: a qualified name (an optional DNS prefix, then a name)
SECRET_TYPE = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
DATA_KEY = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
MAX_SECRET_BYTES = 1024 * 1024  # the API server's limit on the sum of a Secret's data values
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_US = "airflow-secret-sync"
"""Our ownership marker's label: ``app.kubernetes.io/managed-by: airflow-secret-sync``."""
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


class KubernetesProvider(SpecModel):
    """Kubernetes Secrets in one namespace, several, or all that the credentials may list."""

    conn_id: str = Field(description="Airflow connection to the cluster (a cncf.kubernetes one works).")
    namespace: str | list[str] | None = Field(
        None,
        description="One namespace, a list of them, or '*' for all the credentials may list; keys are "
        "'<namespace>/<name>' when the store spans several. Default: the connection's namespace, else "
        "'default'.",
    )
    label_selector: str | None = Field(None, description="Label selector applied to every listing.")
    field_selector: str | None = Field(None, description="Field selector applied to every listing.")
    secret_type: str = Field("Opaque", description="Type of the Secrets this store creates.")
    default_data_key: str = Field(
        "value", description="Data key that a text value written without a property goes to."
    )
    skip_types: list[str] = Field(
        default_factory=lambda: [SERVICE_ACCOUNT_TOKEN, HELM_RELEASE],
        description="Secret types that listings leave out (service-account tokens and Helm release records "
        "by default; [] lists every type).",
    )
    eso_source_stores: list[str] | None = Field(
        None,
        description="Stores that External Secrets Operator reads into this cluster: a Secret it manages is "
        "treated as synced from them (never pushed back there). Unset: such Secrets are refused, since "
        "where they came from is unknown.",
    )
    page_size: int = Field(500, ge=1, le=10000, description="Secrets per listing page (limit/continue).")

    @field_validator("namespace")
    @classmethod
    def _check_namespace(cls, value: str | list[str] | None) -> str | list[str] | None:
        names = [value] if isinstance(value, str) else (value or [])
        if isinstance(value, list) and not value:
            raise ValueError("give at least one namespace (or '*' for all)")
        for name in names:
            if name == ALL_NAMESPACES and isinstance(value, str):
                continue
            if not DNS_LABEL.match(name):
                raise ValueError(f"{name!r} is not a namespace name (lowercase DNS label) nor '*'")
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("namespaces are listed twice")
        return value

    @field_validator("secret_type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not SECRET_TYPE.match(value):
            raise ValueError(f"{value!r} is not a Secret type (e.g. Opaque, kubernetes.io/tls)")
        return value

    @field_validator("default_data_key")
    @classmethod
    def _check_data_key(cls, value: str) -> str:
        if not DATA_KEY.match(value):
            raise ValueError("data keys hold letters, digits, '-', '_' and '.' (1 to 253 characters)")
        return value

    @property
    def spans_namespaces(self) -> bool:
        """Whether keys carry the namespace (``ns/name``)."""
        return self.namespace == ALL_NAMESPACES or (
            isinstance(self.namespace, list) and len(self.namespace) > 1
        )


def key_problem(settings: KubernetesProvider, key: str) -> str | None:
    """Why ``key`` names no Secret of a store with ``settings`` (checked before any call), or ``None``."""
    name = key
    if settings.spans_namespaces:
        namespace, slash, name = key.partition("/")
        if not slash:
            return "this store spans namespaces: keys are '<namespace>/<name>'"
        if not DNS_LABEL.match(namespace):
            return f"namespace {namespace!r} is not a lowercase DNS label (at most 63 characters)"
        allowed = settings.namespace
        if isinstance(allowed, list) and namespace not in allowed:
            return f"namespace {namespace!r} is not one of the store's ({', '.join(allowed)})"
    return secret_name_problem(name)


def secret_name_problem(name: str) -> str | None:
    """Why ``name`` is not a Secret name (a DNS-1123 subdomain), or ``None``."""
    if not name or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        return (
            "Secret names are DNS subdomains: lowercase letters, digits, '-' and '.', starting and ending "
            "with a letter or digit (at most 253 characters)"
        )
    return None


def value_limit(settings: KubernetesProvider) -> int:
    """A Secret holds at most 1 MiB of data, whatever the store's settings."""
    return MAX_SECRET_BYTES


def label_problem(key: str, value: str) -> str | None:
    """Why a Secret cannot carry label ``key: value`` (so no label selector may hold it), or ``None``."""
    prefix, slash, name = key.rpartition("/")
    if (
        not name
        or not _LABEL_NAME.match(name)
        or (slash and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)))
        or not _LABEL_NAME.match(value)
    ):
        return (
            "Kubernetes label names are an optional DNS subdomain and '/', then 1 to 63 letters, digits, "
            "'-', '_' or '.' starting and ending with a letter or digit; values are empty or the same form"
        )
    return None


def tag_refusal(settings: KubernetesProvider, name: str, value: str) -> str | None:
    """A query selects by labels, never by our marker's own (other values of that label are others')."""
    if name == MANAGED_BY_LABEL and value == MANAGED_BY_US:
        return f"{MANAGED_BY_LABEL}: {MANAGED_BY_US} is the ownership marker of this tool"
    return None


def tag_problem(settings: KubernetesProvider, name: str, value: str) -> str | None:
    return label_problem(name, value)
