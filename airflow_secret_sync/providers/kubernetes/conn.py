"""An Airflow connection turned into an official ``kubernetes`` client (Airflow-free: it takes the fields).

Two forms are read:

* the cncf.kubernetes provider's ``kubernetes`` connections: extras ``in_cluster``, ``kube_config_path``,
  ``kube_config`` (kubeconfig as JSON text or an object), ``cluster_context``, ``namespace``,
  ``disable_verify_ssl`` (also with the old ``extra__kubernetes__`` prefix); no extras means the default
  kubeconfig (``~/.kube/config`` or ``$KUBECONFIG``);
* a bearer token: ``host`` is the API server URL, ``password`` the token, extra ``ca_cert`` (PEM text) or
  ``ca_cert_path`` the CA that signed the server's certificate.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airflow_secret_sync.engine.store import Misconfigured
from airflow_secret_sync.providers.base import boolean

LEGACY_PREFIX = "extra__kubernetes__"
EXCLUSIVE = ("in_cluster", "kube_config_path", "kube_config")
POOL_SIZE = 32


@dataclass(frozen=True)
class KubernetesConnection:
    """What a connection says, secrets kept out of ``repr``."""

    conn_id: str
    in_cluster: bool = False
    kube_config_path: str | None = None
    kube_config: dict[str, Any] | None = field(default=None, repr=False)
    cluster_context: str | None = None
    namespace: str | None = None
    verify_ssl: bool = True
    server: str | None = None
    token: str | None = field(default=None, repr=False)
    ca_cert: str | None = field(default=None, repr=False)
    ca_cert_path: str | None = None

    @classmethod
    def from_fields(
        cls,
        conn_id: str,
        *,
        host: str | None = None,
        password: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> KubernetesConnection:
        """Read the connection's host, password and extra (``Connection.extra_dejson``)."""
        extra = dict(extra or {})

        def pick(name: str) -> Any:
            for candidate in (name, f"{LEGACY_PREFIX}{name}"):
                if extra.get(candidate) not in (None, ""):
                    return extra[candidate]
            return None

        given = [name for name in EXCLUSIVE if pick(name) is not None and not _false(pick(name))]
        if len(given) > 1:
            raise Misconfigured(
                f"connection {conn_id!r}: extras {', '.join(given)} are mutually exclusive: give one"
            )
        kube_config = pick("kube_config")
        if isinstance(kube_config, str):
            try:
                kube_config = json.loads(kube_config)
            except ValueError:
                raise Misconfigured(f"connection {conn_id!r}: extra kube_config is not JSON") from None
        if kube_config is not None and not isinstance(kube_config, dict):
            raise Misconfigured(f"connection {conn_id!r}: extra kube_config must be a kubeconfig object")
        host = (host or "").strip() or None
        if host and "://" not in host:
            host = f"https://{host}"
        return cls(
            conn_id=conn_id,
            in_cluster=boolean(pick("in_cluster"), default=False),
            kube_config_path=pick("kube_config_path"),
            kube_config=kube_config,
            cluster_context=pick("cluster_context"),
            namespace=pick("namespace"),
            verify_ssl=not boolean(pick("disable_verify_ssl"), default=False),
            server=host,
            token=password or pick("token"),
            ca_cert=pick("ca_cert"),
            ca_cert_path=pick("ca_cert_path"),
        )

    @property
    def method(self) -> str:
        """How the client is configured, for messages: in-cluster, kubeconfig file, kubeconfig, token."""
        if self.in_cluster:
            return "in-cluster service account"
        if self.kube_config_path:
            return f"kubeconfig {self.kube_config_path}"
        if self.kube_config is not None:
            return "kubeconfig from the connection"
        if self.server:
            return f"bearer token for {self.server}"
        return "default kubeconfig"

    def api_client(self) -> tuple[Any, str | None]:
        """An official ``ApiClient`` and the namespace the configuration names (``None`` if none)."""
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        configuration = client.Configuration()
        namespace = self.namespace
        try:
            if self.in_cluster:
                config.load_incluster_config(client_configuration=configuration)
                namespace = namespace or _in_cluster_namespace()
            elif self.kube_config_path or self.kube_config is not None:
                namespace = namespace or self._kubeconfig_namespace()
                if self.kube_config is not None:
                    config.load_kube_config_from_dict(
                        self.kube_config, context=self.cluster_context, client_configuration=configuration
                    )
                else:
                    config.load_kube_config(
                        config_file=self.kube_config_path,
                        context=self.cluster_context,
                        client_configuration=configuration,
                    )
            elif self.server:
                if not self.token:
                    raise Misconfigured(
                        f"connection {self.conn_id!r}: a host needs the bearer token as password"
                    )
                configuration.host = self.server.rstrip("/")
                configuration.api_key = {"authorization": self.token}
                configuration.api_key_prefix = {"authorization": "Bearer"}
                if self.ca_cert_path:
                    configuration.ssl_ca_cert = self.ca_cert_path
                elif self.ca_cert:
                    configuration.ssl_ca_cert = _pem_file(self.ca_cert)
            else:
                config.load_kube_config(context=self.cluster_context, client_configuration=configuration)
        except (ConfigException, OSError, TypeError, ValueError) as err:
            raise Misconfigured(f"connection {self.conn_id!r} ({self.method}): {err}") from None
        if not self.verify_ssl:
            configuration.verify_ssl = False
        configuration.connection_pool_maxsize = POOL_SIZE
        return client.ApiClient(configuration), namespace

    def _kubeconfig_namespace(self) -> str | None:
        """The namespace of the kubeconfig context in use, when it names one."""
        document = self.kube_config
        if document is None:
            import yaml

            document = yaml.safe_load(Path(self.kube_config_path or "").expanduser().read_text()) or {}
        name = self.cluster_context or document.get("current-context")
        for entry in document.get("contexts") or []:
            if entry.get("name") == name:
                return (entry.get("context") or {}).get("namespace")
        return None


def _false(value: Any) -> bool:
    return value is False or str(value).strip().lower() in {"0", "false", "no", "off"}


def _in_cluster_namespace() -> str | None:
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _pem_file(pem: str) -> str:
    """The client takes a CA file path: write PEM text given inline to a private temporary file."""
    with tempfile.NamedTemporaryFile("w", prefix="k8s-ca-", suffix=".crt", delete=False) as handle:
        handle.write(pem if pem.endswith("\n") else f"{pem}\n")
    return handle.name
