"""Import a bank-vaults ``secret-sync`` configuration: a source store file, a target store file, a sync plan.

Semantics followed (bank-vaults ``secret-sync`` v0.1-v0.3, its API docs and its store clients):

* A ``local`` store is a folder; a key is a file path below it. A query walks the folder recursively and
  matches ``key.regexp`` (unanchored) against the file's *name*.
* A ``vault`` store is a KV v2 mount (``storePath``); the key ``a/b/c`` is field ``c`` of secret ``a/b``,
  and a one-segment key ``c`` is field ``c`` of secret ``c``.
* Without ``target.keyPrefix`` a query writes every secret under its own key; with it, under
  ``keyPrefix + file name``. ``flatten`` with ``target.key`` renders one secret from the query's secrets,
  named in the template by the lower-camel-cased file name (``db-user`` -> ``.Data.dbUser``).
* A template's ``rawData`` renders the value as text; ``data`` renders a map and stores it as compact JSON
  with sorted keys (``rawData`` wins when both are given).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from airflow_secret_sync.importers.gotemplate import (
    Expr,
    Part,
    Resolver,
    Text,
    Untranslatable,
    to_expression,
    to_jinja,
    translate,
)
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
from airflow_secret_sync.providers.file.spec import SIDECAR_DIR
from airflow_secret_sync.spec.checks import check_schedule
from airflow_secret_sync.spec.models import API_VERSION

# key rule: bank-vaults' Vault key "a/b/c" is field "c" of secret "a/b"; "c" is field "c" of secret "c"
VAULT_FIELD_RULE = {
    "regexp": {
        "source": r"^(?:(?P<folder>.+)/(?P<field>[^/]+)|(?P<single>[^/]+))$",
        "target": "${folder}${single}",
        "property": "${field}${single}",
    }
}
STORE_FIELDS = {
    "local": {"storePath"},
    "vault": {"address", "storePath", "authPath", "role", "tokenPath", "token"},
}
ACTION_FIELDS = {"secretRef", "secretQuery", "secretSources", "target", "flatten", "template"}


def lower_camel(name: str) -> str:
    """The template name bank-vaults gives a secret (``strcase.ToLowerCamel`` of iancoleman/strcase v0.3).

    Letters and digits are kept; ``_``, ``-``, ``.`` and space start a new word (capitalised), other
    characters are dropped; the first letter is lower case, as is every capital following a capital.
    """
    name = name.strip()
    out = []
    capitalise = False
    previous_capital = False
    for index, char in enumerate(name):
        is_capital = "A" <= char <= "Z"
        is_lower = "a" <= char <= "z"
        if capitalise and is_lower:
            char = char.upper()
        elif not capitalise and (index == 0 or previous_capital) and is_capital:
            char = char.lower()
        previous_capital = is_capital
        if is_capital or is_lower:
            out.append(char)
            capitalise = False
        elif "0" <= char <= "9":
            out.append(char)
            capitalise = True
        else:
            capitalise = char in "_ -."
    return "".join(out)


def basename_regexp(expression: str) -> str:
    """Our query regexp (searched in the whole key) for bank-vaults' ``key.regexp`` (searched in the file
    name): every construct that could match a ``/`` is kept inside the last path segment."""
    out = []
    anchored = False
    flags = re.match(r"\(\?[ims]+\)", expression)
    index = anchor_at = flags.end() if flags else 0
    while index < len(expression):
        char = expression[index]
        if char == "\\" and index + 1 < len(expression):
            escape = expression[index + 1]
            out.append({"S": r"[^/\s]", "W": r"[^/\w]", "D": r"[^/\d]"}.get(escape, char + escape))
            index += 2
            continue
        if char == "[":
            end, klass = _char_class(expression, index)
            out.append(klass)
            index = end
            continue
        if char == ".":
            out.append("[^/]")
        elif char == "^":
            if index != anchor_at:
                raise Untranslatable(
                    "'^' after the start of key.regexp (it anchors at the file name's start)"
                )
            anchored = True
        else:
            out.append(char)
        index += 1
    body = "".join(out)
    lead = flags.group(0) if flags else ""
    translated = lead + "(?:^|/)" + ("" if anchored else "[^/]*?") + f"(?:{body})" + "[^/]*$"
    try:
        re.compile(translated)
    except re.error as err:
        raise Untranslatable(f"key.regexp {expression!r} has no equivalent here: {err}") from None
    return translated


def _char_class(expression: str, start: int) -> tuple[int, str]:
    index = start + 1
    negated = index < len(expression) and expression[index] == "^"
    if negated:
        index += 1
    body_start = index
    if index < len(expression) and expression[index] == "]":
        index += 1
    while index < len(expression) and expression[index] != "]":
        if expression[index] == "\\":
            if expression[index + 1 : index + 2] in ("S", "W", "D"):
                raise Untranslatable(r"\S, \W or \D inside a character class of key.regexp")
            index += 1
        elif expression.startswith("[:", index) and expression.startswith("[:^", index):
            raise Untranslatable("a negated POSIX class inside a character class of key.regexp")
        index += 1
    if index >= len(expression):
        raise Untranslatable("an unterminated character class in key.regexp")
    body = expression[body_start:index]
    return index + 1, ("[^/" + body + "]" if negated else "[" + body + "]")


def normalise_key(key: str) -> str:
    return "/".join(part for part in key.split("/") if part)


@dataclass
class Store:
    """One bank-vaults store file, translated."""

    file: str
    kind: Literal["local", "vault"]
    provider: dict[str, Any]
    root: Path | None = None

    def ref(self, key: str) -> dict[str, Any]:
        """Our ``{key, property}`` for bank-vaults' key in this store."""
        parts = normalise_key(key).split("/")
        if self.kind == "vault":
            return {"key": "/".join(parts[:-1]) or parts[-1], "property": parts[-1]}
        return {"key": "/".join(parts)}

    def list_names(self, path: str, expression: str) -> list[str]:
        """The keys a bank-vaults query returns from this local store, listed now."""
        assert self.root is not None
        folder = self.root / normalise_key(path)
        pattern = re.compile(expression)
        keys = []
        for directory, folders, files in os.walk(folder):
            # our own markers, when this folder was also a target of ours, are not secrets
            folders[:] = sorted(
                name for name in folders if not (name == SIDECAR_DIR and Path(directory) == self.root)
            )
            for name in sorted(files):
                if pattern.search(name):
                    keys.append(Path(directory, name).relative_to(self.root).as_posix())
        return keys


class BankVaultsImporter:
    def __init__(self, source: Path, target: Path, plan: Path, *, name: str | None = None) -> None:
        self.paths = {"source": source, "target": target, "plan": plan}
        self.name = document_name(name or plan.stem)
        self.result = ImportResult()
        self._plan_file = str(plan)

    def run(self) -> ImportResult:
        documents = {role: _load_yaml(path) for role, path in self.paths.items()}
        source = self._store("source", documents["source"])
        target = self._store("target", documents["target"])
        plan_file = self._plan_file
        plan = documents["plan"]
        spec: dict[str, Any] = {"source": f"{self.name}-source", "targets": [f"{self.name}-target"]}
        for field in sorted(set(plan) - {"sync", "auditLogPath", "schedule"}):
            self._report(plan_file, field, Severity.NOT_HONOURED, "not a bank-vaults field (it ignores it)")
        if "auditLogPath" in plan:
            self._report(
                plan_file,
                "auditLogPath",
                Severity.NOT_HONOURED,
                "each run's audit records go to the task log (and `secret-sync audit`), not to a file",
            )
        if "schedule" in plan:
            try:
                spec["schedule"] = check_schedule(str(plan["schedule"]))
            except ValueError as err:
                self._report(plan_file, "schedule", Severity.NOT_HONOURED, str(err))
        actions = plan.get("sync")
        if not isinstance(actions, list) or not actions:
            raise ImportInputError(f"{plan_file}: sync: a list of at least one sync action is needed")
        items: list[dict[str, Any]] = []
        for index, action in enumerate(actions):
            path = f"sync[{index}]"
            if not isinstance(action, dict):
                raise ImportInputError(f"{plan_file}: {path}: a sync action must be a mapping")
            try:
                items.extend(self._action(action, path, plan_file, source, target))
            except LeftOut as err:
                self._report(plan_file, err.path, Severity.LEFT_OUT, str(err))
        if not items:
            self._report(
                plan_file, "sync", Severity.LEFT_OUT, "no sync action could be translated: no job written"
            )
            return self.result
        spec["plan"] = items
        stores = [
            store_document(f"{self.name}-source", "Read", source.provider),
            store_document(f"{self.name}-target", "Write", target.provider),
        ]
        job = {
            "apiVersion": API_VERSION,
            "kind": "SyncJob",
            "metadata": {
                "name": self.name,
                "description": f"imported from bank-vaults secret-sync {plan_file}",
            },
            "spec": spec,
        }
        self.result.jobs.append(ImportedJob(self.name, stores, job))
        return self.result

    def _report(self, file: str, path: str, severity: Severity, message: str) -> None:
        self.result.add(file, path, severity, message)

    # ------------------------------------------------------------------------------------------ stores

    def _store(self, role: str, document: dict[str, Any]) -> Store:
        file = str(self.paths[role])
        for field in sorted(set(document) - {"secretsStore"}):
            self._report(file, field, Severity.NOT_HONOURED, "not a bank-vaults field (it ignores it)")
        spec = document.get("secretsStore")
        if not isinstance(spec, dict):
            raise ImportInputError(
                f"{file}: secretsStore: a mapping with one store (local or vault) is needed"
            )
        given = sorted(spec)
        unknown = [kind for kind in given if kind not in STORE_FIELDS]
        if unknown:
            raise ImportInputError(
                f"{file}: secretsStore.{unknown[0]}: not a store bank-vaults secret-sync has had "
                "(it knows local and vault)"
            )
        if len(given) != 1:
            raise ImportInputError(f"{file}: secretsStore: give exactly one store, got {len(given)}")
        kind = given[0]
        settings = spec[kind]
        if not isinstance(settings, dict):
            raise ImportInputError(f"{file}: secretsStore.{kind}: a mapping is needed")
        for field in sorted(set(settings) - STORE_FIELDS[kind]):
            self._report(
                file, f"secretsStore.{kind}.{field}", Severity.NOT_HONOURED, "not a field of this store"
            )
        store_path = settings.get("storePath")
        if not isinstance(store_path, str) or not store_path.strip():
            raise ImportInputError(f"{file}: secretsStore.{kind}.storePath: a non-empty string is needed")
        if kind == "local":
            root = Path(store_path)
            if not root.is_absolute():
                root = Path.cwd() / root
                self._report(
                    file,
                    "secretsStore.local.storePath",
                    Severity.CHANGED,
                    f"relative path resolved against the current folder (as bank-vaults does) to {root}",
                )
            if role == "target":
                self._report(
                    file,
                    "secretsStore.local",
                    Severity.CHANGED,
                    "the folder also gets a .secret-sync/ folder holding our ownership markers",
                )
            return Store(file, "local", {"file": {"path": str(root)}}, root=root)
        return self._vault_store(role, file, settings, store_path)

    def _vault_store(self, role: str, file: str, settings: dict[str, Any], store_path: str) -> Store:
        address = settings.get("address")
        if not isinstance(address, str) or not address.strip():
            raise ImportInputError(f"{file}: secretsStore.vault.address: the Vault URL is needed")
        url = urlsplit(address.strip() if "://" in address else f"https://{address.strip()}")
        if not url.hostname:
            raise ImportInputError(f"{file}: secretsStore.vault.address: {address!r} is not a URL")
        conn_id = f"{self.name}_{role}_vault".replace("-", "_").replace(".", "_")
        fields: dict[str, Any] = {"host": url.hostname, "schema": url.scheme or "https"}
        if url.port:
            fields["port"] = url.port
        extra: dict[str, Any] = {}
        prefix = "secretsStore.vault"
        if settings.get("token"):
            fields["password"] = "<VAULT_TOKEN>"
            extra["auth_type"] = "token"
            self._report(
                file,
                f"{prefix}.token",
                Severity.CHANGED,
                f"the token is not copied: put it into connection {conn_id!r} (see the command printed)",
            )
        elif settings.get("tokenPath"):
            extra.update(auth_type="token", token_path=str(settings["tokenPath"]))
        elif settings.get("role"):
            extra.update(auth_type="kubernetes", role=str(settings["role"]))
            if settings.get("authPath"):
                extra["auth_mount_point"] = str(settings["authPath"])
        else:
            fields["password"] = "<VAULT_TOKEN>"
            extra["auth_type"] = "token"
            self._report(
                file,
                prefix,
                Severity.CHANGED,
                "no token, tokenPath or role (bank-vaults then reads ~/.vault-token): token auth assumed",
            )
        if settings.get("authPath") and extra.get("auth_type") == "token":
            self._report(file, f"{prefix}.authPath", Severity.NOT_HONOURED, "not used with token auth")
        self.result.add_connection(
            ConnectionToCreate(
                conn_id,
                "secret_sync_vault",
                fields,
                extra,
                purpose=f"{role} store of job {self.name!r} ({file})",
            )
        )
        if role == "target":
            self._report(
                file,
                prefix,
                Severity.CHANGED,
                "bank-vaults replaces a whole Vault secret on each write (one field survives); each item "
                "here writes its own field and keeps the secret's other fields",
            )
        mount = store_path.strip("/")
        return Store(file, "vault", {"vault": {"connId": conn_id, "mount": mount, "kvVersion": 2}})

    # ----------------------------------------------------------------------------------------- actions

    def _action(
        self, action: dict[str, Any], path: str, file: str, source: Store, target: Store
    ) -> list[dict[str, Any]]:
        for field in sorted(set(action) - ACTION_FIELDS):
            self._report(file, f"{path}.{field}", Severity.NOT_HONOURED, "not a sync action field (ignored)")
        kinds = [kind for kind in ("secretRef", "secretQuery", "secretSources") if action.get(kind)]
        if len(kinds) != 1:
            raise LeftOut(
                "give exactly one of secretRef, secretQuery or secretSources (bank-vaults refuses this item)",
                path,
            )
        target_spec = _mapping(action.get("target") or {}, file, f"{path}.target")
        for field in sorted(set(target_spec) - {"key", "keyPrefix"}):
            self._report(
                file, f"{path}.target.{field}", Severity.NOT_HONOURED, "not a target field (ignored)"
            )
        target_key = _optional_key(target_spec.get("key"), file, f"{path}.target.key")
        key_prefix = target_spec.get("keyPrefix")
        if key_prefix is not None and not isinstance(key_prefix, str):
            raise ImportInputError(f"{file}: {path}.target.keyPrefix: a string is needed")
        flatten = bool(action.get("flatten"))
        template = action.get("template")
        if template is not None:
            template = _mapping(template, file, f"{path}.template")
            for field in sorted(set(template) - {"rawData", "data"}):
                self._report(file, f"{path}.template.{field}", Severity.NOT_HONOURED, "not a template field")
            if not template.get("data") and template.get("rawData") is None:
                template = None  # bank-vaults treats an empty template as none
            elif template.get("rawData") is not None and template.get("data"):
                self._report(
                    file,
                    f"{path}.template.data",
                    Severity.NOT_HONOURED,
                    "ignored: bank-vaults uses rawData when both are set",
                )
        kind = kinds[0]
        if kind == "secretRef":
            if key_prefix is not None:
                self._report(
                    file,
                    f"{path}.target.keyPrefix",
                    Severity.NOT_HONOURED,
                    "ignored by bank-vaults for a secretRef",
                )
            if flatten:
                self._report(
                    file, f"{path}.flatten", Severity.NOT_HONOURED, "ignored by bank-vaults for a secretRef"
                )
            key = self._ref_key(action["secretRef"], file, f"{path}.secretRef")
            destination = target.ref(target_key or key)
            if template is None:
                return [{"secret": source.ref(key), "target": destination}]
            return [self._compose({"data": source.ref(key)}, _single_value, template, destination, path)]
        if kind == "secretQuery":
            query = self._query(action["secretQuery"], file, f"{path}.secretQuery")
            return self._query_items(
                query, path, file, source, target, target_key, key_prefix, flatten, template
            )
        return [self._sources(action["secretSources"], file, path, source, target, target_key, template)]

    def _query_items(
        self,
        query: tuple[str, str],
        path: str,
        file: str,
        source: Store,
        target: Store,
        target_key: str | None,
        key_prefix: str | None,
        flatten: bool,
        template: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        query_path, expression = query
        if target_key is not None:
            if not flatten:
                raise LeftOut("bank-vaults refuses a query with target.key unless flatten is true", path)
            if template is None:
                raise LeftOut("bank-vaults refuses a flattened query without a template", path)
            names = self._listed(source, query_path, expression, path)
            variables = {f"data_{camel}": source.ref(key) for camel, key in names.items()}
            return [self._compose(variables, _flattened(names), template, target.ref(target_key), path)]
        if flatten:
            raise LeftOut("bank-vaults refuses flatten without target.key", f"{path}.flatten")
        if template is not None:
            keys = self._listed_keys(source, query_path, expression, path)
            self._report(
                file,
                path,
                Severity.CHANGED,
                f"a per-secret template needs fixed sources: the query was listed now and became {len(keys)} "
                "items; secrets added later need a new import",
            )
            items = []
            for key in keys:
                name = key.rsplit("/", 1)[-1]
                destination = target.ref(key_prefix + name if key_prefix is not None else key)
                items.append(
                    self._compose({"data": source.ref(key)}, _single_value, template, destination, path)
                )
            return items
        if source.kind == "vault":
            raise LeftOut(VAULT_QUERY_PROBLEM, f"{path}.secretQuery")
        try:
            regexp = basename_regexp(expression)
        except Untranslatable as err:
            raise LeftOut(str(err), f"{path}.secretQuery.key.regexp") from None
        folder = normalise_key(query_path)
        item: dict[str, Any] = {
            "query": {"path": f"{folder}/" if folder else "", "regexp": regexp, "recursive": True}
        }
        rules = []
        if key_prefix is not None:
            prefix = key_prefix.lstrip("/").replace("$", "$$")
            rules.append({"regexp": {"source": r"^(?:.*/)?([^/]+)$", "target": prefix + "$1"}})
        if target.kind == "vault":
            rules.append(VAULT_FIELD_RULE)
        if rules:
            item["keyTransform"] = rules
        return [item]

    def _sources(
        self,
        sources: Any,
        file: str,
        path: str,
        source: Store,
        target: Store,
        target_key: str | None,
        template: dict[str, Any] | None,
    ) -> dict[str, Any]:
        if not isinstance(sources, list):
            raise ImportInputError(f"{file}: {path}.secretSources: a list is needed")
        if target_key is None:
            raise LeftOut("bank-vaults refuses secretSources without target.key", path)
        if template is None:
            raise LeftOut("bank-vaults refuses secretSources without a template", path)
        variables: dict[str, dict[str, Any]] = {}
        named: dict[str, str | dict[str, str]] = {}
        for index, entry in enumerate(sources):
            where = f"{path}.secretSources[{index}]"
            entry = _mapping(entry, file, where)
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                raise ImportInputError(f"{file}: {where}.name: a name is needed")
            camel = lower_camel(name)
            if entry.get("secretRef"):
                key = self._ref_key(entry["secretRef"], file, f"{where}.secretRef")
                variables[f"data_{camel}"] = source.ref(key)
                named[camel] = f"data_{camel}"
            elif entry.get("secretQuery"):
                query_path, expression = self._query(entry["secretQuery"], file, f"{where}.secretQuery")
                keys = self._listed(source, query_path, expression, where)
                named[camel] = {inner: f"data_{camel}_{inner}" for inner in keys}
                variables.update({f"data_{camel}_{inner}": source.ref(key) for inner, key in keys.items()})
            else:
                raise LeftOut("a secret source needs secretRef or secretQuery", where)

        def resolve(chain: tuple[str, ...]) -> str:
            if not chain:
                raise Untranslatable("'.Data' (the sources printed as a Go map)")
            found = named.get(chain[0])
            if found is None:
                raise Untranslatable(
                    f"'.Data.{chain[0]}': no source of that name (bank-vaults prints '<no value>')"
                )
            if isinstance(found, str):
                if len(chain) > 1:
                    raise Untranslatable(f"'.Data.{'.'.join(chain)}': a field of a single secret's text")
                return found
            if len(chain) != 2:
                raise Untranslatable(
                    f"'.Data.{'.'.join(chain)}': a query source is read as .Data.<source>.<name>"
                )
            if chain[1] not in found:
                raise Untranslatable(f"'.Data.{'.'.join(chain)}': no secret of the query has that name now")
            return found[chain[1]]

        return self._compose(variables, resolve, template, target.ref(target_key), path)

    def _compose(
        self,
        variables: dict[str, dict[str, Any]],
        resolve: Resolver,
        template: dict[str, Any],
        destination: dict[str, Any],
        path: str,
    ) -> dict[str, Any]:
        used: set[str] = set()

        def tracking(chain: tuple[str, ...]) -> str:
            name = resolve(chain)
            used.add(name)
            return name

        rendering = _template_fields(
            template, tracking, self._plan_file, f"{path}.template", into_field="property" in destination
        )
        if not used:
            raise LeftOut("the template reads no secret (a constant value is not a sync)", f"{path}.template")
        return {
            "sources": {name: variables[name] for name in sorted(used)},
            **rendering,
            "target": destination,
        }

    # ------------------------------------------------------------------------------------------ inputs

    def _ref_key(self, ref: Any, file: str, path: str) -> str:
        ref = _mapping(ref, file, path)
        for field in sorted(set(ref) - {"key", "version"}):
            self._report(file, f"{path}.{field}", Severity.NOT_HONOURED, "not a secretRef field (ignored)")
        if ref.get("version") is not None:
            self._report(
                file,
                f"{path}.version",
                Severity.NOT_HONOURED,
                "bank-vaults reads the latest version whatever this says",
            )
        key = _optional_key(ref.get("key"), file, f"{path}.key")
        if key is None:
            raise ImportInputError(f"{file}: {path}.key: a key is needed")
        return key

    def _query(self, query: Any, file: str, path: str) -> tuple[str, str]:
        query = _mapping(query, file, path)
        for field in sorted(set(query) - {"path", "key"}):
            self._report(file, f"{path}.{field}", Severity.NOT_HONOURED, "not a secretQuery field (ignored)")
        query_path = query.get("path") or ""
        if not isinstance(query_path, str):
            raise ImportInputError(f"{file}: {path}.path: a string is needed")
        key = _mapping(query.get("key") or {}, file, f"{path}.key")
        expression = key.get("regexp") or ""
        if not isinstance(expression, str):
            raise ImportInputError(f"{file}: {path}.key.regexp: a string is needed")
        try:
            re.compile(expression)
        except re.error as err:
            raise ImportInputError(f"{file}: {path}.key.regexp: invalid regular expression: {err}") from None
        return query_path, expression

    def _listed_keys(self, source: Store, query_path: str, expression: str, path: str) -> list[str]:
        """The keys a query finds now (a local source only: a Vault one cannot be listed here)."""
        if source.kind != "local":
            raise LeftOut(VAULT_QUERY_PROBLEM, path)
        assert source.root is not None
        if not source.root.is_dir():
            raise LeftOut(f"the query needs the source folder {source.root} to list its secrets now", path)
        return source.list_names(query_path, expression)

    def _listed(self, source: Store, query_path: str, expression: str, path: str) -> dict[str, str]:
        """Template name -> key of every secret a query finds now."""
        keys: dict[str, str] = {}
        for key in self._listed_keys(source, query_path, expression, path):
            camel = lower_camel(key.rsplit("/", 1)[-1])
            if camel in keys:
                raise LeftOut(
                    f"{keys[camel]!r} and {key!r} share the template name {camel!r} (bank-vaults keeps one)",
                    path,
                )
            keys[camel] = key
        return keys


def import_bank_vaults(source: Path, target: Path, plan: Path, *, name: str | None = None) -> ImportResult:
    """Translate bank-vaults store files ``source``/``target`` and sync plan ``plan`` into one job."""
    return BankVaultsImporter(source, target, plan, name=name).run()


# ---------------------------------------------------------------------------------------------- helpers


VAULT_QUERY_PROBLEM = (
    "a query on a bank-vaults Vault store lists secrets but reads the field named like each of them "
    "from the folder's secret; our queries copy whole secrets, so the result would differ"
)


def _single_value(chain: tuple[str, ...]) -> str:
    if chain:
        raise Untranslatable(f"'.Data.{'.'.join(chain)}': .Data is the secret's text here, it has no fields")
    return "data"


def _flattened(names: dict[str, str]) -> Resolver:
    def resolve(chain: tuple[str, ...]) -> str:
        if not chain:
            raise Untranslatable("'.Data' (the query's secrets printed as a Go map)")
        if len(chain) > 1:
            raise Untranslatable(f"'.Data.{'.'.join(chain)}': a field of a single secret's text")
        if chain[0] not in names:
            raise Untranslatable(f"'.Data.{chain[0]}': no secret of the query has that name now")
        return f"data_{chain[0]}"

    return resolve


def _template_fields(
    template: dict[str, Any], resolve: Resolver, file: str, path: str, *, into_field: bool
) -> dict[str, Any]:
    """``template`` or ``templateFields`` of our compose item for bank-vaults' ``rawData`` or ``data``.

    ``data`` becomes ``templateFields`` (a map, written as compact JSON with sorted keys, as bank-vaults
    writes it); into one field of a Vault secret, where a map cannot go, a template renders that JSON text.
    """
    raw = template.get("rawData")
    if raw is not None:
        if not isinstance(raw, str):
            raise ImportInputError(f"{file}: {path}.rawData: a string is needed")
        try:
            return {"template": to_jinja(translate(raw, resolve))}
        except Untranslatable as err:
            raise LeftOut(str(err), f"{path}.rawData") from None
    data = template["data"]
    if not isinstance(data, dict):
        raise ImportInputError(f"{file}: {path}.data: a mapping of strings is needed")
    fields: dict[str, list[Part]] = {}
    for field in sorted(data, key=str):
        try:
            fields[str(field)] = translate(str(data[field]), resolve)
        except Untranslatable as err:
            raise LeftOut(str(err), f"{path}.data.{field}") from None
    if not into_field:
        return {"templateFields": {field: to_jinja(parts) for field, parts in fields.items()}}
    parts: list[Part] = [Text("{")]
    for position, (field, value_parts) in enumerate(fields.items()):
        parts.append(Text(("," if position else "") + json.dumps(field, ensure_ascii=False) + ":"))
        parts.append(Expr(f"{to_expression(value_parts)} | tojson"))
    parts.append(Text("}"))
    return {"template": to_jinja(parts)}


class LeftOut(Exception):
    """An item that cannot be translated safely, with the field path that says why."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


def _mapping(value: Any, file: str, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ImportInputError(f"{file}: {path}: a mapping is needed")
    return value


def _optional_key(value: Any, file: str, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not normalise_key(value):
        raise ImportInputError(f"{file}: {path}: a non-empty key is needed")
    return value


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ImportInputError(f"{path}: cannot read: {err.strerror}") from None
    except UnicodeDecodeError:
        raise ImportInputError(f"{path}: not UTF-8 text") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ImportInputError(f"{path}: {yaml_problem(err)}") from None
    if not isinstance(document, dict):
        raise ImportInputError(f"{path}: a YAML mapping is needed")
    return document
