"""Import External Secrets Operator ``PushSecret`` manifests with the ``SecretStore`` /
``ClusterSecretStore`` documents they reference.

Each PushSecret becomes one job: a ``kubernetes`` source store (the PushSecret's namespace) reading the
selected Secret, one target store per referenced store, and one plan item per ``data`` entry
(``match.secretKey`` -> ``remoteRef.remoteKey`` / ``property``). ``refreshInterval`` becomes the schedule,
``updatePolicy`` and ``deletionPolicy`` ours, ``template.data`` entries Jinja compose items. Provider
credentials become Airflow connections printed with placeholders.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from airflow_secret_sync.engine.naming import store_key_problem
from airflow_secret_sync.importers.gotemplate import Dialect, Untranslatable, to_jinja, translate
from airflow_secret_sync.importers.report import (
    ConnectionToCreate,
    ImportedJob,
    ImportInputError,
    ImportResult,
    Severity,
    document_name,
    store_document,
    yaml_problem,
)
from airflow_secret_sync.spec.models import API_VERSION, SecretStore

STORE_KINDS = ("SecretStore", "ClusterSecretStore")
# External Secrets' template functions (Sprig) that have a Jinja filter of the same meaning
ESO_TEMPLATES = Dialect(
    root=None,
    functions={
        "b64enc": "b64encode",
        "b64dec": "b64decode",
        "upper": "upper",
        "lower": "lower",
        "trim": "trim",
        "toString": "string",
    },
)
KUBERNETES_CONN_ID = "kubernetes_default"
# How an External Secrets provider names what it writes, where that differs from remoteKey: a key rule
# (RE2 expression, replacement) on that store's target, and why. AWS takes a hierarchical parameter name only
# with its leading '/' ('app/db' -> '/app/db'); External Secrets reads 'secret/' in front of an Azure Key
# Vault name as the object type ('secret/db' is secret 'db').
REMOTE_NAMES = {
    "awsParameterStore": (
        "^([^/]+/)",
        "/$1",
        "AWS refuses a hierarchical parameter name without a leading '/', so External Secrets' push of "
        "{key!r} fails there",
    ),
    "azureKeyVault": ("^secret/", "", "External Secrets reads 'secret/' as the Key Vault object type"),
}
_GO_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


@dataclass
class Manifest:
    file: str
    index: int
    document: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.document.get("kind"))

    @property
    def name(self) -> str:
        return str((self.document.get("metadata") or {}).get("name") or "")

    @property
    def namespace(self) -> str | None:
        namespace = (self.document.get("metadata") or {}).get("namespace")
        return str(namespace) if namespace else None

    def where(self) -> str:
        return f"{self.file}#{self.index}"


def go_duration_seconds(text: str) -> float:
    """Seconds in a Go duration such as ``1h0m0s``, ``90s`` or ``0``; ``ValueError`` otherwise."""
    text = text.strip()
    if text in ("0", ""):
        return 0.0
    position, total = 0, 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        position = match.end()
    if position != len(text):
        raise ValueError(f"not a Go duration: {text!r}")
    return total


def schedule_for(seconds: float) -> str:
    """Our duration schedule (``1h``, ``90s``, ``1h30m``) for a whole number of seconds."""
    whole = math.ceil(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value)


class PushSecretImporter:
    def __init__(self, files: list[Path]) -> None:
        self.files = files
        self.result = ImportResult()
        # our target store's name -> the External Secrets store it comes from, for findings
        self._origins: dict[str, str] = {}

    def run(self) -> ImportResult:
        manifests = [manifest for path in self.files for manifest in _load_manifests(path)]
        push_secrets = []
        stores: dict[tuple[str, str | None, str], Manifest] = {}
        for manifest in manifests:
            if manifest.kind == "PushSecret":
                push_secrets.append(manifest)
            elif manifest.kind in STORE_KINDS:
                namespace = manifest.namespace if manifest.kind == "SecretStore" else None
                stores[(manifest.kind, namespace, manifest.name)] = manifest
            else:
                self._report(
                    manifest.file,
                    f"document {manifest.index}",
                    Severity.NOT_HONOURED,
                    f"kind {manifest.kind!r} ignored: only PushSecret and (Cluster)SecretStore are read",
                )
        if not push_secrets:
            raise ImportInputError(f"{', '.join(map(str, self.files))}: no PushSecret found")
        for push_secret in push_secrets:
            self._push_secret(push_secret, stores)
        return self.result

    def _report(self, file: str, path: str, severity: Severity, message: str) -> None:
        self.result.add(file, path, severity, message)

    # ---------------------------------------------------------------------------------------- PushSecret

    def _push_secret(self, manifest: Manifest, stores: dict[tuple[str, str | None, str], Manifest]) -> None:
        file = manifest.file
        where = f"PushSecret {manifest.name!r}"
        spec = manifest.document.get("spec")
        if not isinstance(spec, dict) or not manifest.name:
            raise ImportInputError(f"{manifest.where()}: a PushSecret needs metadata.name and spec")
        namespace = manifest.namespace
        if namespace is None:
            namespace = "default"
            self._report(
                file,
                f"{where}: metadata.namespace",
                Severity.CHANGED,
                "not given: namespace 'default' assumed",
            )
        name = document_name(f"{namespace}-{manifest.name}")
        known = {
            "secretStoreRefs",
            "selector",
            "data",
            "updatePolicy",
            "deletionPolicy",
            "template",
            "refreshInterval",
        }
        for field in sorted(set(spec) - known):
            self._report(file, f"{where}: spec.{field}", Severity.NOT_HONOURED, "no equivalent: ignored")
        selector = spec.get("selector") or {}
        secret = selector.get("secret") if isinstance(selector, dict) else None
        if not isinstance(secret, dict) or not isinstance(secret.get("name"), str):
            reason = (
                "a generator as source (selector.generatorRef) has no equivalent"
                if isinstance(selector, dict) and selector.get("generatorRef")
                else "only selector.secret.name (one Secret) translates: a label selector would push every "
                "matching Secret to the same remote keys"
            )
            self._report(file, f"{where}: spec.selector", Severity.LEFT_OUT, f"PushSecret left out: {reason}")
            return
        secret_name = secret["name"]
        targets = self._targets(manifest, spec, stores, name)
        if not targets:
            self._report(
                file,
                f"{where}: spec.secretStoreRefs",
                Severity.LEFT_OUT,
                "PushSecret left out: no store translated",
            )
            return
        entries = self._items(manifest, spec, secret_name, targets)
        if not entries:
            self._report(
                file,
                f"{where}: spec.data",
                Severity.LEFT_OUT,
                "PushSecret left out: no data entry translated",
            )
            return
        fitted = self._fit_remote_keys(manifest, entries, targets)
        if not fitted:
            self._report(
                file,
                f"{where}: spec.secretStoreRefs",
                Severity.LEFT_OUT,
                "PushSecret left out: no store can hold its remote keys",
            )
            return
        self._report_whole_secret_encoding(manifest, entries, [store for store, _ in fitted])
        items = [item for _, item in entries]
        job_spec: dict[str, Any] = {
            "source": f"{name}-source",
            "targets": [entry for _, entry in fitted],
            "plan": items,
        }
        job_spec.update(self._policies(manifest, spec, name))
        source_store = store_document(
            f"{name}-source", "Read", {"kubernetes": {"connId": KUBERNETES_CONN_ID, "namespace": namespace}}
        )
        self.result.add_connection(
            ConnectionToCreate(
                KUBERNETES_CONN_ID,
                "kubernetes",
                {},
                {"in_cluster": True},
                purpose="the cluster holding the pushed Secrets (or kube_config_path instead of in_cluster)",
            )
        )
        job = {
            "apiVersion": API_VERSION,
            "kind": "SyncJob",
            "metadata": {
                "name": name,
                "description": f"imported from PushSecret {namespace}/{manifest.name}",
            },
            "spec": job_spec,
        }
        self.result.jobs.append(ImportedJob(name, [source_store, *(store for store, _ in fitted)], job))

    def _policies(self, manifest: Manifest, spec: dict[str, Any], job: str) -> dict[str, Any]:
        file, where = manifest.file, f"PushSecret {manifest.name!r}"
        policies: dict[str, Any] = {}
        interval = spec.get("refreshInterval", "1h")
        try:
            seconds = go_duration_seconds(str(interval))
        except ValueError as err:
            raise ImportInputError(f"{manifest.where()}: spec.refreshInterval: {err}") from None
        if seconds == 0:
            policies["schedule"] = None
            self._report(
                file,
                f"{where}: spec.refreshInterval",
                Severity.CHANGED,
                "0 (no periodic push): the job runs when triggered only",
            )
        else:
            policies["schedule"] = schedule_for(seconds)
            if seconds != math.ceil(seconds):
                self._report(
                    file, f"{where}: spec.refreshInterval", Severity.CHANGED, "rounded up to whole seconds"
                )
        update = spec.get("updatePolicy", "Replace")
        if update not in ("Replace", "IfNotExists"):
            raise ImportInputError(f"{manifest.where()}: spec.updatePolicy: expected Replace or IfNotExists")
        policies["updatePolicy"] = update
        deletion = spec.get("deletionPolicy", "None")
        if deletion not in ("None", "Delete"):
            raise ImportInputError(f"{manifest.where()}: spec.deletionPolicy: expected None or Delete")
        policies["deletionPolicy"] = "Delete" if deletion == "Delete" else "Retain"
        if deletion == "Delete":
            self._report(
                file,
                f"{where}: spec.deletionPolicy",
                Severity.CHANGED,
                "to delete what it pushed when the PushSecret goes, as External Secrets does, remove the "
                f"job's job.yaml, then run 'secret-sync prune -c <JOB_FOLDER> --job {job} --apply' (fields "
                "written with remoteRef.property stay); also, a remote secret whose source (the Secret or "
                "its key) is gone is deleted on the next run (within maxDeletes)",
            )
        self._report(
            file,
            f"{where}",
            Severity.CHANGED,
            "remote secrets External Secrets already pushed carry its marker, not ours: the first run "
            "refuses them (conflictPolicy Fail); set conflictPolicy: Adopt for that run to take them over",
        )
        return policies

    def _items(
        self, manifest: Manifest, spec: dict[str, Any], secret_name: str, targets: list[dict[str, Any]]
    ) -> list[tuple[int, dict[str, Any]]]:
        """The plan item of each ``data`` entry that translates, with the entry's index."""
        file, where = manifest.file, f"PushSecret {manifest.name!r}"
        template = spec.get("template")
        templated: dict[str, str] = {}
        merge = True
        if template is not None:
            if not isinstance(template, dict):
                raise ImportInputError(f"{manifest.where()}: spec.template: a mapping is needed")
            for field in sorted(set(template) - {"data", "mergePolicy", "engineVersion"}):
                self._report(
                    file, f"{where}: spec.template.{field}", Severity.NOT_HONOURED, "no equivalent: ignored"
                )
            if template.get("templateFrom"):
                self._report(
                    file,
                    f"{where}: spec.template.templateFrom",
                    Severity.LEFT_OUT,
                    "PushSecret left out: templates kept in ConfigMaps/Secrets cannot be read here",
                )
                return []
            if str(template.get("engineVersion", "v2")) != "v2":
                self._report(
                    file,
                    f"{where}: spec.template.engineVersion",
                    Severity.LEFT_OUT,
                    "PushSecret left out: only engineVersion v2 templates translate",
                )
                return []
            templated = {str(key): str(value) for key, value in (template.get("data") or {}).items()}
            merge = template.get("mergePolicy", "Replace") == "Merge"
        data = spec.get("data")
        if not isinstance(data, list) or not data:
            self._report(
                file, f"{where}: spec.data", Severity.LEFT_OUT, "no data entries: nothing to push is listed"
            )
            return []
        items: list[tuple[int, dict[str, Any]]] = []
        vault_targets = [
            store["metadata"]["name"] for store in targets if "vault" in store["spec"]["provider"]
        ]
        for index, entry in enumerate(data):
            item = self._entry(manifest, index, entry, secret_name, template, templated, merge)
            if item is None:
                continue
            items.append((index, item))
            whole_secret = "secret" in item and "property" not in item["secret"]
            if vault_targets and not whole_secret and "property" not in item["target"]:
                self._report(
                    file,
                    f"{where}: spec.data[{index}].match.remoteRef",
                    Severity.CHANGED,
                    f"no property: in Vault stores ({', '.join(vault_targets)}) text that is not a JSON "
                    "object is written as field 'value'",
                )
        return items

    def _entry(
        self,
        manifest: Manifest,
        index: int,
        entry: Any,
        secret_name: str,
        template: dict[str, Any] | None,
        templated: dict[str, str],
        merge: bool,
    ) -> dict[str, Any] | None:
        """The plan item of one ``data`` entry, or ``None`` (reported) when it does not translate."""
        file, where = manifest.file, f"PushSecret {manifest.name!r}"
        path = f"{where}: spec.data[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("match"), dict):
            raise ImportInputError(f"{manifest.where()}: spec.data[{index}].match: a mapping is needed")
        match = entry["match"]
        remote = match.get("remoteRef")
        if not isinstance(remote, dict) or not isinstance(remote.get("remoteKey"), str):
            raise ImportInputError(
                f"{manifest.where()}: spec.data[{index}].match.remoteRef.remoteKey is needed"
            )
        for field in sorted(set(entry) - {"match", "conversionStrategy", "metadata"}):
            self._report(file, f"{path}.{field}", Severity.NOT_HONOURED, "no equivalent: ignored")
        if entry.get("metadata"):
            self._report(
                file,
                f"{path}.metadata",
                Severity.NOT_HONOURED,
                "provider push metadata: use the target store's tags/labels instead",
            )
        if entry.get("conversionStrategy", "None") != "None":
            self._report(
                file, f"{path}.conversionStrategy", Severity.LEFT_OUT, "entry left out: only None translates"
            )
            return None
        target: dict[str, Any] = {"key": remote["remoteKey"]}
        if remote.get("property"):
            target["property"] = str(remote["property"])
        secret_key = match.get("secretKey")
        if secret_key is None:
            if template is not None:
                self._report(
                    file,
                    path,
                    Severity.LEFT_OUT,
                    "entry left out: a whole templated Secret does not translate",
                )
                return None
            return {"secret": {"key": secret_name}, "target": target}
        if str(secret_key) in templated:
            try:
                return self._templated(templated[str(secret_key)], secret_name, target)
            except Untranslatable as err:
                self._report(
                    file,
                    f"{where}: spec.template.data.{secret_key}",
                    Severity.LEFT_OUT,
                    f"entry {index} left out: {err}",
                )
                return None
        if template is not None and not merge:
            self._report(
                file,
                path,
                Severity.LEFT_OUT,
                f"entry left out: with mergePolicy Replace the templated Secret lacks {secret_key!r}",
            )
            return None
        return {"secret": {"key": secret_name, "property": str(secret_key)}, "target": target}

    @staticmethod
    def _templated(text: str, secret_name: str, target: dict[str, Any]) -> dict[str, Any]:
        sources: dict[str, dict[str, str]] = {}

        def resolve(chain: tuple[str, ...]) -> str:
            if len(chain) != 1:
                raise Untranslatable("only a data key of the Secret (such as '.password') can be read")
            variable = f"data_{chain[0]}"
            sources[variable] = {"key": secret_name, "property": chain[0]}
            return variable

        template = to_jinja(translate(text, resolve, ESO_TEMPLATES))
        if not sources:
            raise Untranslatable("the template reads no key of the Secret")
        return {"sources": dict(sorted(sources.items())), "template": template, "target": target}

    def _report_whole_secret_encoding(
        self, manifest: Manifest, entries: list[tuple[int, dict[str, Any]]], stores: list[dict[str, Any]]
    ) -> None:
        """External Secrets writes a whole Secret into Parameter Store as JSON of base64-encoded values
        (unless the entry's metadata sets ``encodeAsDecoded``); ours, as into every other store, as text."""
        parameter_stores = [
            store["metadata"]["name"] for store in stores if "awsParameterStore" in store["spec"]["provider"]
        ]
        for index, item in entries:
            if parameter_stores and "secret" in item and "property" not in item["secret"]:
                self._report(
                    manifest.file,
                    f"PushSecret {manifest.name!r}: spec.data[{index}]",
                    Severity.CHANGED,
                    f"the whole Secret goes into {', '.join(parameter_stores)} as JSON of its values as "
                    "text; External Secrets writes them base64-encoded there unless metadata sets "
                    "encodeAsDecoded",
                )

    def _fit_remote_keys(
        self, manifest: Manifest, entries: list[tuple[int, dict[str, Any]]], targets: list[dict[str, Any]]
    ) -> list[tuple[dict[str, Any], str | dict[str, Any]]]:
        """The stores that can hold every remote key, each with its entry of the job's ``targets``.

        External Secrets passes ``remoteKey`` to the provider unchanged (after the store's prefix), so a key
        the provider refuses fails that store's push at every refresh. Parameter Store refuses a
        hierarchical name without a leading ``/``, and External Secrets strips ``secret/`` from an Azure
        Key Vault name: that store's target gets a key rule doing the same (:data:`REMOTE_NAMES`). A key a
        store refuses otherwise (a ``/`` in a GCP secret id, say) has no such name: the store is left out of
        the job rather than given a guessed one.
        """
        file, where = manifest.file, f"PushSecret {manifest.name!r}"
        keys = {index: str(item["target"]["key"]) for index, item in entries}
        kept: list[tuple[dict[str, Any], str | dict[str, Any]]] = []
        for store in targets:
            name = store["metadata"]["name"]
            block = SecretStore.model_validate(store).spec.provider
            rewrite = block.kind in REMOTE_NAMES and any(
                store_key_problem(block, key) and not store_key_problem(block, remote_name(block.kind, key))
                for key in keys.values()
            )
            refused = False
            for index, key in keys.items():
                written = remote_name(block.kind, key) if rewrite else key
                path = f"{where}: spec.data[{index}].match.remoteRef.remoteKey"
                problem = store_key_problem(block, written)
                if problem:
                    refused = True
                    self._report(
                        file,
                        path,
                        Severity.LEFT_OUT,
                        f"target {name!r} ({self._origins[name]}) left out: {written!r} is not a valid name "
                        f"there: {problem}. External Secrets cannot push it there as a secret either: "
                        "rename the remote key and import again",
                    )
                elif written != key:
                    self._report(
                        file,
                        path,
                        Severity.CHANGED,
                        f"written as {written!r} in target {name!r} ({self._origins[name]}): "
                        + REMOTE_NAMES[block.kind][2].format(key=key),
                    )
            if refused:
                self.result.drop_connection(next(iter(store["spec"]["provider"].values()))["connId"])
            elif rewrite:
                source, replacement, _ = REMOTE_NAMES[block.kind]
                rule = {"regexp": {"source": source, "target": replacement}}
                kept.append((store, {"store": name, "keyTransform": [rule]}))
            else:
                kept.append((store, name))
        return kept

    # -------------------------------------------------------------------------------------------- stores

    def _targets(
        self,
        manifest: Manifest,
        spec: dict[str, Any],
        stores: dict[tuple[str, str | None, str], Manifest],
        job: str,
    ) -> list[dict[str, Any]]:
        file, where = manifest.file, f"PushSecret {manifest.name!r}"
        refs = spec.get("secretStoreRefs")
        if not isinstance(refs, list) or not refs:
            raise ImportInputError(f"{manifest.where()}: spec.secretStoreRefs: a list of stores is needed")
        found: list[tuple[str, Manifest]] = []
        for index, ref in enumerate(refs):
            path = f"{where}: spec.secretStoreRefs[{index}]"
            if not isinstance(ref, dict):
                raise ImportInputError(
                    f"{manifest.where()}: spec.secretStoreRefs[{index}]: a mapping is needed"
                )
            kind = ref.get("kind", "SecretStore")
            namespace = (manifest.namespace or "default") if kind == "SecretStore" else None
            if ref.get("labelSelector"):
                selector = ref["labelSelector"]
                if not isinstance(selector, dict) or set(selector) - {"matchLabels"}:
                    self._report(file, path, Severity.LEFT_OUT, "only labelSelector.matchLabels translates")
                    continue
                wanted = selector.get("matchLabels") or {}
                matched = [
                    store
                    for (store_kind, store_namespace, _), store in sorted(
                        stores.items(), key=lambda item: str(item[0])
                    )
                    if store_kind == kind
                    and store_namespace == namespace
                    and wanted.items() <= ((store.document.get("metadata") or {}).get("labels") or {}).items()
                ]
                if not matched:
                    self._report(
                        file, path, Severity.LEFT_OUT, f"no {kind} among the manifests matches the labels"
                    )
                found.extend((path, store) for store in matched)
                continue
            store = stores.get((kind, namespace, str(ref.get("name"))))
            if store is None:
                self._report(
                    file,
                    path,
                    Severity.LEFT_OUT,
                    f"{kind} {ref.get('name')!r} is not among the manifests given",
                )
                continue
            found.append((path, store))
        documents = []
        seen: set[str] = set()
        for path, store in found:
            if store.where() in seen:
                continue
            seen.add(store.where())
            document = self._store(store, job, path)
            if document is not None:
                documents.append(document)
        return documents

    def _store(self, store: Manifest, job: str, ref_path: str) -> dict[str, Any] | None:
        file = store.file
        where = f"{store.kind} {store.name!r}"
        spec = store.document.get("spec") or {}
        provider = spec.get("provider") if isinstance(spec, dict) else None
        if not isinstance(provider, dict) or len(provider) != 1:
            raise ImportInputError(f"{store.where()}: spec.provider: exactly one provider is needed")
        for field in sorted(set(spec) - {"provider"}):
            self._report(file, f"{where}: spec.{field}", Severity.NOT_HONOURED, "no equivalent: ignored")
        kind, settings = next(iter(provider.items()))
        if not isinstance(settings, dict):
            raise ImportInputError(f"{store.where()}: spec.provider.{kind}: a mapping is needed")
        name = document_name(f"{job}-{store.name}")
        conn_id = name.replace("-", "_").replace(".", "_")
        path = f"{where}: spec.provider.{kind}"
        translators = {"vault": self._vault, "aws": self._aws, "gcpsm": self._gcp, "azurekv": self._azure}
        if kind not in translators:
            self._report(
                file,
                path,
                Severity.LEFT_OUT,
                f"target left out ({ref_path}): provider {kind!r} has no store here yet",
            )
            return None
        ours = translators[kind](settings, conn_id, file, path)
        self._origins[name] = where
        return store_document(name, "Write", ours)

    def _unhonoured(self, settings: dict[str, Any], handled: set[str], file: str, path: str) -> None:
        for field in sorted(set(settings) - handled):
            self._report(file, f"{path}.{field}", Severity.NOT_HONOURED, "no equivalent: ignored")

    def _vault(self, settings: dict[str, Any], conn_id: str, file: str, path: str) -> dict[str, Any]:
        self._unhonoured(settings, {"server", "path", "version", "namespace", "auth"}, file, path)
        server = str(settings.get("server") or "")
        url = urlsplit(server)
        if not url.hostname:
            raise ImportInputError(f"{file}: {path}.server: a Vault URL is needed")
        fields: dict[str, Any] = {"host": url.hostname, "schema": url.scheme or "https"}
        if url.port:
            fields["port"] = url.port
        extra: dict[str, Any] = {}
        if settings.get("namespace"):
            extra["namespace"] = str(settings["namespace"])
        auth = settings.get("auth") or {}
        method = next(iter(auth), None) if isinstance(auth, dict) else None
        details = auth.get(method) if method else None
        details = details if isinstance(details, dict) else {}
        if method == "tokenSecretRef":
            extra["auth_type"] = "token"
            fields["password"] = "<VAULT_TOKEN>"
        elif method == "appRole":
            extra["auth_type"] = "approle"
            fields["login"] = str(details.get("roleId") or "<ROLE_ID>")
            fields["password"] = "<SECRET_ID>"
            extra["auth_mount_point"] = str(details.get("path") or "approle")
        elif method == "kubernetes":
            extra.update(auth_type="kubernetes", role=str(details.get("role") or "<ROLE>"))
            extra["auth_mount_point"] = str(details.get("mountPath") or "kubernetes")
        elif method == "userPass":
            extra["auth_type"] = "userpass"
            fields["login"] = str(details.get("username") or "<USERNAME>")
            fields["password"] = "<PASSWORD>"
            if details.get("path"):
                extra["auth_mount_point"] = str(details["path"])
        elif method == "jwt":
            extra.update(auth_type="jwt", role=str(details.get("role") or "<ROLE>"), jwt="<JWT>")
            if details.get("path"):
                extra["auth_mount_point"] = str(details["path"])
        else:
            extra["auth_type"] = "token"
            fields["password"] = "<VAULT_TOKEN>"
            self._report(
                file,
                f"{path}.auth",
                Severity.NOT_HONOURED,
                f"auth method {method!r} has no equivalent here: token auth assumed",
            )
        self.result.add_connection(
            ConnectionToCreate(conn_id, "secret_sync_vault", fields, extra, purpose=path)
        )
        version = str(settings.get("version") or "v2")
        if version not in ("v1", "v2"):
            raise ImportInputError(f"{file}: {path}.version: expected v1 or v2")
        return {
            "vault": {
                "connId": conn_id,
                "mount": str(settings.get("path") or "secret"),
                "kvVersion": int(version[1]),
            }
        }

    def _aws(self, settings: dict[str, Any], conn_id: str, file: str, path: str) -> dict[str, Any]:
        handled = {"service", "region", "role", "auth", "externalID", "prefix", "secretsManager"}
        self._unhonoured(settings, handled, file, path)
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        if settings.get("role"):
            extra["role_arn"] = str(settings["role"])
        if settings.get("externalID"):
            extra["external_id"] = str(settings["externalID"])
        auth = settings.get("auth") or {}
        if isinstance(auth, dict) and auth.get("secretRef"):
            fields.update(login="<AWS_ACCESS_KEY_ID>", password="<AWS_SECRET_ACCESS_KEY>")
            if (auth["secretRef"] or {}).get("sessionTokenSecretRef"):
                extra["aws_session_token"] = "<AWS_SESSION_TOKEN>"
        elif isinstance(auth, dict) and auth.get("jwt"):
            self._report(
                file,
                f"{path}.auth.jwt",
                Severity.CHANGED,
                "service-account (IRSA) auth: the connection leaves its keys empty so that the default "
                "credential chain (web identity) is used",
            )
        self.result.add_connection(
            ConnectionToCreate(conn_id, "secret_sync_aws", fields, extra, purpose=path)
        )
        service = settings.get("service", "SecretsManager")
        ours: dict[str, Any] = {"connId": conn_id}
        if settings.get("region"):
            ours["region"] = str(settings["region"])
        if service == "ParameterStore":
            if settings.get("prefix"):
                ours["pathPrefix"] = str(settings["prefix"])
            if settings.get("secretsManager"):
                self._report(
                    file, f"{path}.secretsManager", Severity.NOT_HONOURED, "for Secrets Manager only"
                )
            return {"awsParameterStore": ours}
        if service != "SecretsManager":
            raise ImportInputError(f"{file}: {path}.service: expected SecretsManager or ParameterStore")
        if settings.get("prefix"):
            ours["prefix"] = str(settings["prefix"])
        manager = settings.get("secretsManager") or {}
        if manager.get("forceDeleteWithoutRecovery"):
            ours["recoveryWindowDays"] = None
        elif manager.get("recoveryWindowInDays"):
            ours["recoveryWindowDays"] = int(manager["recoveryWindowInDays"])
        return {"aws": ours}

    def _gcp(self, settings: dict[str, Any], conn_id: str, file: str, path: str) -> dict[str, Any]:
        self._unhonoured(settings, {"projectID", "location", "auth"}, file, path)
        extra: dict[str, Any] = {}
        auth = settings.get("auth") or {}
        if isinstance(auth, dict) and auth.get("secretRef"):
            extra["keyfile_dict"] = "<SERVICE_ACCOUNT_KEY_JSON>"
        elif isinstance(auth, dict) and auth.get("workloadIdentity"):
            self._report(
                file,
                f"{path}.auth.workloadIdentity",
                Severity.CHANGED,
                "workload identity: the connection leaves the key empty so that Application Default "
                "Credentials are used",
            )
        if settings.get("projectID"):
            extra["project"] = str(settings["projectID"])
        self.result.add_connection(ConnectionToCreate(conn_id, "secret_sync_gcp", {}, extra, purpose=path))
        ours: dict[str, Any] = {"connId": conn_id}
        if settings.get("projectID"):
            ours["projectId"] = str(settings["projectID"])
        if settings.get("location"):
            ours["location"] = str(settings["location"])
        return {"gcp": ours}

    def _azure(self, settings: dict[str, Any], conn_id: str, file: str, path: str) -> dict[str, Any]:
        handled = {"vaultUrl", "tenantId", "authType", "authSecretRef", "identityId", "serviceAccountRef"}
        self._unhonoured(settings, handled | {"environmentType"}, file, path)
        if not str(settings.get("vaultUrl") or "").startswith("https://"):
            raise ImportInputError(f"{file}: {path}.vaultUrl: the vault's https:// URL is needed")
        if settings.get("environmentType", "PublicCloud") != "PublicCloud":
            self._report(
                file,
                f"{path}.environmentType",
                Severity.NOT_HONOURED,
                "only the public cloud's sign-in is used: the vault URL alone does not choose the cloud",
            )
        fields: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        auth_type = settings.get("authType", "ServicePrincipal")
        tenant = str(settings["tenantId"]) if settings.get("tenantId") else None
        if auth_type == "ServicePrincipal":
            fields.update(login="<CLIENT_ID>", password="<CLIENT_SECRET>")
            extra["tenantId"] = tenant or "<TENANT_ID>"
        elif auth_type in ("ManagedIdentity", "WorkloadIdentity"):
            if auth_type == "ManagedIdentity" and settings.get("identityId"):
                extra["managed_identity_client_id"] = str(settings["identityId"])
            if auth_type == "WorkloadIdentity" and tenant:
                extra["workload_identity_tenant_id"] = tenant
            self._report(
                file,
                f"{path}.authType",
                Severity.CHANGED,
                f"{auth_type}: the connection holds no secret, so that DefaultAzureCredential signs in with "
                "the identity of wherever the task runs",
            )
        else:
            raise ImportInputError(
                f"{file}: {path}.authType: expected ServicePrincipal, ManagedIdentity or WorkloadIdentity"
            )
        self.result.add_connection(
            ConnectionToCreate(conn_id, "secret_sync_azure_key_vault", fields, extra, purpose=path)
        )
        # External Secrets writes remoteKey as the secret's name: no '/' -> '--' mapping as ours has
        return {
            "azureKeyVault": {"connId": conn_id, "vaultUrl": str(settings["vaultUrl"]), "nameMapping": {}}
        }


def remote_name(kind: str, key: str) -> str:
    """The name the provider of ``kind`` gives ``key`` (the :data:`REMOTE_NAMES` rule applied)."""
    source, replacement, _ = REMOTE_NAMES[kind]
    return re.sub(source, replacement.replace("$1", r"\1"), key, count=1)


def import_push_secrets(files: list[Path]) -> ImportResult:
    """Translate the PushSecrets in ``files`` (with the stores they reference) into one job each."""
    return PushSecretImporter(files).run()


def _load_manifests(path: Path) -> list[Manifest]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ImportInputError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ImportInputError(f"{path}: not UTF-8 text") from None
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as err:
        raise ImportInputError(f"{path}: {yaml_problem(err)}") from None
    manifests = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ImportInputError(f"{path}#{index}: a Kubernetes manifest (a mapping) is needed")
        manifests.append(Manifest(str(path), index, document))
    return manifests
