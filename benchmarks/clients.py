"""Direct client-library access to each store, for the naive script and the raw floor (no engine code).

Each adapter makes the fewest provider calls its operation needs:

* ``get(key, with_marker)``: the current value and version, plus the ownership marker when asked
  (Vault returns it with the value; AWS and GCP need one more metadata call, made only when the secret
  exists; files read a sidecar).
* ``get_many(keys)``, where the provider reads in batches (AWS, ``read_batch_size`` keys a call; GCP; one
  listing of the namespace on Kubernetes): values, versions and markers of several keys, as the engine's
  batch read gets them.
* ``create`` / ``update`` / ``mark``: write the value (and the marker when one is given).

The marker fields match the engine's, so the floor writes the same metadata the engine writes.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SIDECAR_DIR = ".secret-sync"
AWS_TAG_PREFIX = "secret-sync:"


@dataclass
class Current:
    """What a store holds for one key. ``value`` is a secret: never print it."""

    value: Any = field(repr=False)
    version: str | None = None
    marker: dict[str, str] | None = None


def marker_fields(job: str, source_store: str, source_key: str, source_version: str | None) -> dict[str, str]:
    fields = {
        "managed-by": "airflow-secret-sync",
        "job": job,
        "source-store": source_store,
        "source-key": source_key,
    }
    if source_version is not None:
        fields["source-version"] = source_version
    return fields


def as_text(value: Any) -> str:
    """A map as compact JSON with sorted keys (the engine's text form of a map); text unchanged."""
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return str(value)


# botocore attempts against moto server, whose concurrent creates sometimes fail with HTTP 500
MOTO_ATTEMPTS = 10


# ------------------------------------------------------------------------------------------- Vault


class VaultRaw:
    """A KV v2 mount through hvac."""

    value_kind = "map"

    def __init__(self, url: str, token: str, prefix: str, *, mount: str = "secret", pool: int = 16) -> None:
        import hvac
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=max(pool, 10)))
        self.client = hvac.Client(url=url, token=token, session=session)
        self.kv = self.client.secrets.kv.v2
        self.prefix = prefix
        self.mount = mount

    def list_keys(self) -> list[str]:
        from hvac.exceptions import InvalidPath

        keys: list[str] = []
        pending = [""]
        while pending:
            folder = pending.pop()
            try:
                entries = self.kv.list_secrets(path=self.prefix + folder, mount_point=self.mount)["data"][
                    "keys"
                ]
            except InvalidPath:
                continue
            for entry in entries:
                (pending if entry.endswith("/") else keys).append(folder + entry)
        return sorted(keys)

    def get(self, key: str, *, with_marker: bool = True) -> Current | None:
        from hvac.exceptions import InvalidPath

        try:
            response = self.kv.read_secret_version(
                path=self.prefix + key, mount_point=self.mount, raise_on_deleted_version=True
            )
        except InvalidPath:
            return None
        data = response["data"]
        metadata = data["metadata"]
        return Current(data["data"], str(metadata["version"]), metadata.get("custom_metadata") or {})

    def create(self, key: str, value: Any, marker: dict[str, str] | None) -> None:
        """With a marker (the floor), the create the engine makes: the metadata read (the check-and-set index,
        and custom fields of others to keep), the marker first (a create cut short leaves a marker alone,
        never an unmarked copy of the value), then the value with check-and-set."""
        from hvac.exceptions import InvalidPath

        if marker is None:
            self.kv.create_or_update_secret(path=self.prefix + key, secret=value, mount_point=self.mount)
            return
        try:
            metadata = self.kv.read_secret_metadata(path=self.prefix + key, mount_point=self.mount)["data"]
        except InvalidPath:
            metadata = {}
        custom = {**(metadata.get("custom_metadata") or {}), **marker}
        self.kv.update_metadata(path=self.prefix + key, custom_metadata=custom, mount_point=self.mount)
        cas = int(metadata.get("current_version") or 0)
        self.kv.create_or_update_secret(path=self.prefix + key, secret=value, cas=cas, mount_point=self.mount)

    def update(self, key: str, value: Any, current: Current, marker: dict[str, str] | None) -> None:
        cas = int(current.version) if marker is not None and current.version else None
        self.kv.create_or_update_secret(path=self.prefix + key, secret=value, cas=cas, mount_point=self.mount)
        if marker is not None and marker != current.marker:
            self.mark(key, current, marker)

    def mark(self, key: str, current: Current | None, marker: dict[str, str]) -> None:
        self.kv.update_metadata(path=self.prefix + key, custom_metadata=marker, mount_point=self.mount)

    def put_plain(self, key: str, value: Any) -> None:
        """Seeding: a plain write, no marker, no check-and-set."""
        self.kv.create_or_update_secret(path=self.prefix + key, secret=value, mount_point=self.mount)


# ------------------------------------------------------------------------------------------- AWS


class AwsRaw:
    """Secrets Manager through boto3; the marker is a set of tags."""

    value_kind = "text"
    read_batch_size = 20  # secret ids per BatchGetSecretValue call

    def __init__(self, url: str, prefix: str, *, pool: int = 16) -> None:
        import boto3
        from botocore.config import Config

        self.client = boto3.client(
            "secretsmanager",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            # as the engine's connection in the harness: moto server fails some concurrent creates with a 500
            config=Config(
                max_pool_connections=max(pool, 10),
                retries={"mode": "standard", "total_max_attempts": MOTO_ATTEMPTS},
            ),
        )
        self.prefix = prefix

    @staticmethod
    def tags(marker: dict[str, str]) -> list[dict[str, str]]:
        return [{"Key": AWS_TAG_PREFIX + name, "Value": text} for name, text in marker.items()]

    def get(self, key: str, *, with_marker: bool = True) -> Current | None:
        name = self.prefix + key
        try:
            response = self.client.get_secret_value(SecretId=name)
        except self.client.exceptions.ResourceNotFoundException:
            return None
        marker = None
        if with_marker:
            described = self.client.describe_secret(SecretId=name)
            marker = {
                tag["Key"][len(AWS_TAG_PREFIX) :]: tag["Value"]
                for tag in described.get("Tags", [])
                if tag["Key"].startswith(AWS_TAG_PREFIX)
            }
        return Current(response["SecretString"], response["VersionId"], marker)

    @staticmethod
    def marker_of(tags: list[dict[str, str]] | None) -> dict[str, str]:
        return {
            tag["Key"][len(AWS_TAG_PREFIX) :]: tag["Value"]
            for tag in tags or ()
            if tag["Key"].startswith(AWS_TAG_PREFIX)
        }

    def get_many(self, keys: list[str]) -> dict[str, Current | None]:
        """The engine's batch read: one ``BatchGetSecretValue``, markers from ``ListSecrets`` name filters
        (10 names a call), a ``DescribeSecret`` for a found secret the listing misses. Keys it cannot read
        (other errors) are left out, for :meth:`get`."""
        names = {self.prefix + key: key for key in keys}
        found: dict[str, Current | None] = {}
        response = self.client.batch_get_secret_value(SecretIdList=list(names))
        for error in response.get("Errors", []):
            if error["ErrorCode"] == "ResourceNotFoundException":
                found[names[error["SecretId"]]] = None
        values = {item["Name"]: item for item in response.get("SecretValues", [])}
        markers: dict[str, dict[str, str]] = {}
        listed = sorted(values)
        for start in range(0, len(listed), 10):
            group = listed[start : start + 10]
            page = self.client.list_secrets(Filters=[{"Key": "name", "Values": group}], MaxResults=100)
            for secret in page.get("SecretList", []):
                if secret["Name"] in values:
                    markers[secret["Name"]] = self.marker_of(secret.get("Tags"))
        for name, item in values.items():
            if name not in markers:
                markers[name] = self.marker_of(self.client.describe_secret(SecretId=name).get("Tags"))
            found[names[name]] = Current(item["SecretString"], item["VersionId"], markers[name])
        return found

    def create(self, key: str, value: Any, marker: dict[str, str] | None) -> None:
        extra = {"Tags": self.tags(marker)} if marker is not None else {}
        self.client.create_secret(Name=self.prefix + key, SecretString=value, **extra)

    def update(self, key: str, value: Any, current: Current, marker: dict[str, str] | None) -> None:
        """With a marker (the floor), first the check-and-set the engine makes: one ``DescribeSecret`` for the
        current version and the marker as they are now (a batch read's marker may lag)."""
        name = self.prefix + key
        if marker is not None:
            described = self.client.describe_secret(SecretId=name)
            stages = described.get("VersionIdsToStages", {})
            if "AWSCURRENT" not in stages.get(current.version or "", []):
                raise RuntimeError(f"{key}: changed since it was read")
            now = self.marker_of(described.get("Tags"))
            if now.get("job") not in (None, marker["job"]):
                raise RuntimeError(f"{key}: owned by another job")
            current = Current(current.value, current.version, now)
        self.client.put_secret_value(SecretId=name, SecretString=value)
        if marker is not None and marker != current.marker:
            self.mark(key, current, marker)

    def mark(self, key: str, current: Current | None, marker: dict[str, str]) -> None:
        self.client.tag_resource(SecretId=self.prefix + key, Tags=self.tags(marker))


# ------------------------------------------------------------------------------------------- GCP


class GcpRaw:
    """Secret Manager through the official client (REST transport); the marker is in annotations."""

    value_kind = "text"
    read_batch_size = 16  # secret ids per ListSecrets name filter, as the hook

    def __init__(self, url: str, project: str, *, pool: int = 16) -> None:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import secretmanager

        self.client = secretmanager.SecretManagerServiceClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=url),
        )
        _widen_rest_pool(self.client, pool)
        self.project = project

    def _name(self, key: str) -> str:
        return f"projects/{self.project}/secrets/{key}"

    def get(self, key: str, *, with_marker: bool = True) -> Current | None:
        from google.api_core.exceptions import NotFound

        try:
            response = self.client.access_secret_version(
                name=f"{self._name(key)}/versions/latest", retry=None
            )
        except NotFound:
            return None
        marker = None
        if with_marker:
            secret = self.client.get_secret(name=self._name(key), retry=None)
            marker = dict(secret.annotations)
        version = response.name.rsplit("/", 1)[1]
        return Current(response.payload.data.decode(), version, marker)

    def get_many(self, keys: list[str]) -> dict[str, Current | None]:
        """The engine's batch read: markers of up to 16 secrets from one ``ListSecrets`` with a name filter,
        then each listed secret's latest value; a key the listing does not show is left out (read alone)."""
        from google.api_core.exceptions import NotFound

        query = " OR ".join(f'name:"{key}"' for key in keys)
        request = {"parent": f"projects/{self.project}", "filter": query, "page_size": 100}
        first_page = next(iter(self.client.list_secrets(request=request, retry=None).pages))
        markers = {secret.name.rsplit("/", 1)[1]: dict(secret.annotations) for secret in first_page.secrets}
        found: dict[str, Current | None] = {}
        for key in keys:
            if key not in markers:
                continue
            try:
                response = self.client.access_secret_version(
                    name=f"{self._name(key)}/versions/latest", retry=None
                )
            except NotFound:
                found[key] = None
                continue
            version = response.name.rsplit("/", 1)[1]
            found[key] = Current(response.payload.data.decode(), version, markers[key])
        return found

    def create(self, key: str, value: Any, marker: dict[str, str] | None) -> None:
        secret: dict[str, Any] = {"replication": {"automatic": {}}}
        if marker is not None:
            secret["annotations"] = marker
            secret["labels"] = {
                "secret_sync_managed_by": "airflow-secret-sync",
                "secret_sync_job": marker["job"],
            }
        self.client.create_secret(parent=f"projects/{self.project}", secret_id=key, secret=secret, retry=None)
        self.client.add_secret_version(parent=self._name(key), payload={"data": value.encode()}, retry=None)

    def update(self, key: str, value: Any, current: Current, marker: dict[str, str] | None) -> None:
        self.client.add_secret_version(parent=self._name(key), payload={"data": value.encode()}, retry=None)
        if marker is not None and marker != current.marker:
            self.mark(key, current, marker)

    def mark(self, key: str, current: Current | None, marker: dict[str, str]) -> None:
        self.client.update_secret(
            secret={"name": self._name(key), "annotations": marker},
            update_mask={"paths": ["annotations"]},
            retry=None,
        )


def _widen_rest_pool(client: Any, pool: int) -> None:
    """Let the REST transport's HTTP session keep ``pool`` connections (it keeps 10 by default)."""
    from requests.adapters import HTTPAdapter

    session = getattr(client._transport, "_session", None)
    if session is not None:
        session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=max(pool, 10)))


# ------------------------------------------------------------------------------------------- Kubernetes

KUBERNETES_LABEL = "app.kubernetes.io/managed-by"
KUBERNETES_PREFIX = "airflow-secret-sync/"


class KubernetesRaw:
    """The Secrets of one namespace through the official ``kubernetes`` client. With a marker, writes are
    the engine's kind (server-side apply by its field manager, the version read as a precondition; a create
    is a plain create, which fails if the Secret exists); without one, a create and a merge patch."""

    value_kind = "map"
    read_batch_size = 100  # as the engine: one listing of the namespace serves every chunk

    def __init__(self, url: str, token: str, namespace: str, *, pool: int = 16) -> None:
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = url
        configuration.api_key = {"authorization": token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        configuration.connection_pool_maxsize = max(pool, 10)
        self.core = client.CoreV1Api(client.ApiClient(configuration))
        self.namespace = namespace
        self._listed: dict[str, Current] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _current(secret: dict[str, Any]) -> Current:
        metadata = secret["metadata"]
        data = {name: base64.b64decode(text).decode() for name, text in (secret.get("data") or {}).items()}
        marker = {
            name.removeprefix(KUBERNETES_PREFIX): text
            for name, text in (metadata.get("annotations") or {}).items()
            if name.startswith(KUBERNETES_PREFIX)
        }
        labels = metadata.get("labels") or {}
        if KUBERNETES_LABEL in labels:
            marker["managed-by"] = labels[KUBERNETES_LABEL]
        return Current(data, metadata["resourceVersion"], marker or None)

    def get(self, key: str, *, with_marker: bool = True) -> Current | None:
        from kubernetes.client.exceptions import ApiException

        try:
            response = self.core.read_namespaced_secret(key, self.namespace, _preload_content=False)
        except ApiException as err:
            if err.status == 404:
                return None
            raise
        return self._current(json.loads(response.data))

    def get_many(self, keys: list[str]) -> dict[str, Current | None]:
        with self._lock:
            if self._listed is None:
                self._listed = {}
                token = None
                while True:
                    extra = {"_continue": token} if token else {}
                    response = self.core.list_namespaced_secret(
                        self.namespace, limit=500, _preload_content=False, **extra
                    )
                    page = json.loads(response.data)
                    for secret in page["items"]:
                        self._listed[secret["metadata"]["name"]] = self._current(secret)
                    token = page["metadata"].get("continue")
                    if not token:
                        break
            return {key: self._listed.pop(key, None) for key in keys}

    def _body(
        self, key: str, value: Any, marker: dict[str, str] | None, version: str | None
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": key}
        if marker:
            metadata["labels"] = {KUBERNETES_LABEL: marker["managed-by"]}
            metadata["annotations"] = {
                KUBERNETES_PREFIX + name: text for name, text in marker.items() if name != "managed-by"
            }
        if version is not None:
            metadata["resourceVersion"] = version
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "metadata": metadata}
        if value is not None:
            body["data"] = {name: base64.b64encode(text.encode()).decode() for name, text in value.items()}
        return body

    def _apply(self, key: str, body: dict[str, Any]) -> None:
        self.core.patch_namespaced_secret(
            key,
            self.namespace,
            body,
            field_manager="airflow-secret-sync",
            force=True,  # takes over what create(), an update by the same manager name, set
            _content_type="application/apply-patch+yaml",
            _preload_content=False,
        )

    def create(self, key: str, value: Any, marker: dict[str, str] | None) -> None:
        self.core.create_namespaced_secret(
            self.namespace,
            self._body(key, value, marker, None),
            field_manager="airflow-secret-sync",
            _preload_content=False,
        )

    def update(self, key: str, value: Any, current: Current, marker: dict[str, str] | None) -> None:
        if marker is None:
            self.core.patch_namespaced_secret(
                key, self.namespace, self._body(key, value, None, None), _preload_content=False
            )
            return
        self._apply(key, self._body(key, value, marker, current.version))

    def mark(self, key: str, current: Current | None, marker: dict[str, str]) -> None:
        value = current.value if current is not None else None
        self._apply(key, self._body(key, value, marker, current.version if current else None))


# ------------------------------------------------------------------------------------------- files


class FileRaw:
    """A folder of files. With a marker, writes are atomic and durable (``fsync``) like the engine's file
    store, and the marker goes to the same sidecar tree; without one, a plain ``write_text``."""

    value_kind = "text"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def list_keys(self) -> list[str]:
        keys: list[str] = []
        for directory, folders, files in os.walk(self.root):
            here = Path(directory)
            if here == self.root:
                folders[:] = [name for name in folders if name != SIDECAR_DIR]
            keys.extend((here / name).relative_to(self.root).as_posix() for name in files)
        return sorted(keys)

    def _sidecar(self, key: str) -> Path:
        return self.root / SIDECAR_DIR / f"{key}.meta.json"

    def get(self, key: str, *, with_marker: bool = True) -> Current | None:
        try:
            value = (self.root / key).read_text()
        except FileNotFoundError:
            return None
        marker: dict[str, str] | None = None
        version = "1"
        if with_marker:
            try:
                marker = json.loads(self._sidecar(key).read_text())
            except FileNotFoundError:
                marker = {}
            version = marker.pop("version", "1")
        return Current(value, version, marker)

    def create(self, key: str, value: Any, marker: dict[str, str] | None) -> None:
        if marker is None:
            path = self.root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value)
            return
        _atomic_write(self.root / key, value.encode())
        self.mark(key, None, marker, version="1")

    def update(self, key: str, value: Any, current: Current, marker: dict[str, str] | None) -> None:
        if marker is None:
            (self.root / key).write_text(value)
            return
        _atomic_write(self.root / key, value.encode())
        self.mark(key, current, marker, version=str(int(current.version or "1") + 1))

    def mark(
        self, key: str, current: Current | None, marker: dict[str, str], version: str | None = None
    ) -> None:
        version = version or (current.version if current else None) or "1"
        _atomic_write(self._sidecar(key), json.dumps({**marker, "version": version}).encode())


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".tmp-{path.name}-{threading.get_ident()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
