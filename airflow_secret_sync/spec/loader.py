"""Load a config folder of ``SecretStore`` and ``SyncJob`` documents, reporting every error with its place.

Every problem becomes a :class:`ConfigError` naming the file, the document (kind and name) and the field
path, for example ``jobs/a.yaml: SyncJob 'vault-to-aws': spec.plan[2].keyTransform[0].regexp.source:
invalid regular expression ...``. One broken document never hides the others: good jobs still load.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from airflow_secret_sync.providers.file.spec import FileProvider
from airflow_secret_sync.spec.models import API_VERSION, NAME_PATTERN, UNION_TAGS, SecretStore, SyncJob

KINDS: dict[str, type[SecretStore] | type[SyncJob]] = {"SecretStore": SecretStore, "SyncJob": SyncJob}
CONFIG_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class ConfigError:
    """One problem in the configuration, with where it is."""

    file: str
    message: str
    kind: str | None = None
    name: str | None = None
    path: str = ""

    def __str__(self) -> str:
        parts = [self.file]
        if self.kind:
            parts.append(f"{self.kind} {self.name!r}" if self.name else self.kind)
        elif self.name:
            parts.append(f"document {self.name!r}")
        if self.path:
            parts.append(self.path)
        return ": ".join([*parts, self.message])

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "kind": self.kind,
            "name": self.name,
            "path": self.path,
            "message": self.message,
        }


@dataclass(frozen=True)
class LoadedStore:
    store: SecretStore
    file: Path

    @property
    def name(self) -> str:
        return self.store.metadata.name

    @property
    def kind(self) -> str:
        return self.store.spec.provider.kind

    def file_root(self) -> Path:
        """The folder of a file store, resolved against the file that declares it."""
        settings = self.store.spec.provider.settings
        assert isinstance(settings, FileProvider), "not a file store"
        return (self.file.parent / settings.path).resolve()


@dataclass(frozen=True)
class LoadedJob:
    job: SyncJob
    file: Path

    @property
    def name(self) -> str:
        return self.job.metadata.name


@dataclass
class Config:
    """A loaded config folder: the valid stores and jobs, and every error found."""

    root: Path
    stores: dict[str, LoadedStore] = field(default_factory=dict)
    jobs: dict[str, LoadedJob] = field(default_factory=dict)
    errors: list[ConfigError] = field(default_factory=list)
    warnings: list[ConfigError] = field(default_factory=list)  # valid, but likely not what was meant
    unparsed: list[Path] = field(default_factory=list)  # files that could not be read as YAML at all

    _relative: dict[Path, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    def relative(self, path: Path) -> str:
        """``path`` as errors and docs name it: relative to the root when it is below it."""
        if path not in self._relative:
            try:
                self._relative[path] = path.resolve().relative_to(self._resolved_root).as_posix()
            except ValueError:
                self._relative[path] = str(path)
        return self._relative[path]

    @cached_property
    def _resolved_root(self) -> Path:
        return self.root.resolve()

    def errors_for_job(self, name: str) -> list[ConfigError]:
        """The errors of the documents running job ``name`` would use, or that may be one of them.

        That is the job's own errors, those of the stores it reads or writes (for a broken job, whose stores
        are not known for sure, every error that belongs to no job), those of documents of an unknown kind
        named like one of them, and those of files that are not YAML and name one of them: such a file may
        hold another declaration of it.
        """
        if name not in self.jobs:
            if name not in self.broken_jobs():
                return []
            return [error for error in self.errors if error.kind != "SyncJob" or error.name == name]
        spec = self.jobs[name].job.spec
        stores = {spec.source, *(target.store for target in spec.target_specs)}
        stores |= {item.source for item in spec.plan if item.source}
        unparsed = {self.relative(path): path for path in self.unparsed}
        concerning = []
        for error in self.errors:
            if error.file in unparsed:
                try:
                    text = unparsed[error.file].read_text(encoding="utf-8", errors="replace")
                except OSError:
                    text = name  # a file that cannot be read may hold anything
                if _names(text, {name}) or ("SecretStore" in text and _names(text, stores)):
                    concerning.append(error)
            elif (error.kind in (None, "SyncJob") and error.name == name) or (
                error.kind in (None, "SecretStore") and error.name in stores
            ):
                concerning.append(error)
        return concerning

    def broken_jobs(self) -> dict[str, list[ConfigError]]:
        """Job names (as written in their documents) with the errors that keep them from loading."""
        broken: dict[str, list[ConfigError]] = {}
        for error in self.errors:
            if error.kind == "SyncJob" and error.name:
                broken.setdefault(error.name, []).append(error)
        return broken


def _names(text: str, names: set[str]) -> bool:
    """Whether ``text`` holds one of ``names`` as a word (names hold only ``[a-z0-9_.-]``)."""
    words = "|".join(re.escape(name) for name in sorted(names))
    return re.search(rf"(?<![\w.-])(?:{words})(?![\w.-])", text) is not None


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.safe_load`` that refuses a key given twice in one mapping instead of keeping the last one."""


# libyaml's parser reads a folder of job files about ten times faster than PyYAML's own; the constructors
# (Python) are the same. Its error messages differ, so a file it refuses is read again with the pure-Python
# loader, whose result or error is the one reported. Without libyaml both are the pure-Python loader.
_FastLoaderBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastUniqueKeyLoader(_FastLoaderBase):
    """:class:`_UniqueKeyLoader` on libyaml's parser."""


def _mapping_without_duplicates(
    loader: yaml.SafeLoader | yaml.CSafeLoader, node: yaml.MappingNode, deep: bool = False
) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_MAPPING = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_UniqueKeyLoader.add_constructor(_MAPPING, _mapping_without_duplicates)
_FastUniqueKeyLoader.add_constructor(_MAPPING, _mapping_without_duplicates)


def _load_all(text: str) -> list[Any]:
    try:
        return list(yaml.load_all(text, Loader=_FastUniqueKeyLoader))
    except yaml.YAMLError:
        return list(yaml.load_all(text, Loader=_UniqueKeyLoader))


def format_loc(loc: Sequence[int | str]) -> str:
    """``('spec', 'plan', 2, 'SecretItem', 'secret')`` -> ``spec.plan[2].secret``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in UNION_TAGS:
            continue
        else:
            text += f".{part}" if text else part
    return text


@functools.cache
def _field_names() -> frozenset[str]:
    """Every field name the documents know, as written in YAML (camelCase)."""
    from pydantic import BaseModel

    from airflow_secret_sync.spec import models

    classes = [cls for cls in vars(models).values() if isinstance(cls, type) and issubclass(cls, BaseModel)]
    return frozenset(info.alias or name for model in classes for name, info in model.model_fields.items())


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        written = str(error["loc"][-1]) if error["loc"] else ""
        camel = to_camel(written)
        if camel != written and camel in _field_names():
            return f"unknown field: fields are camelCase, did you mean {camel!r}?"
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "literal_error" or kind == "enum":
        message = message.replace("Input should be", "expected")
    return message


def config_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in CONFIG_SUFFIXES and p.is_file()))
        else:
            files.append(path)
    return files


def parse_documents(
    path: Path, relative: str, text: str | None = None
) -> tuple[list[tuple[int, Any]], list[ConfigError]]:
    """The documents of one file (``text``, when it was read already) with their positions, or the YAML
    error that stops reading it."""
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            return [], [ConfigError(relative, f"cannot read file: {err}")]
    try:
        documents = _load_all(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        return [], [ConfigError(relative, f"invalid YAML: {where}{problem}")]
    return [(index, doc) for index, doc in enumerate(documents) if doc is not None], []


def _declared_name(raw: dict[Any, Any]) -> str | None:
    metadata = raw.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return name if isinstance(name, str) else None


def load_document(
    raw: Any, relative: str, index: int
) -> tuple[SecretStore | SyncJob | None, list[ConfigError]]:
    """Validate one document; the errors name the file, the document and the field."""
    if not isinstance(raw, dict):
        return None, [ConfigError(relative, f"document {index + 1} is not a mapping")]
    kind = raw.get("kind")
    name = _declared_name(raw)
    label = kind if isinstance(kind, str) and kind in KINDS else None
    if raw.get("apiVersion") != API_VERSION:
        return None, [
            ConfigError(
                relative,
                f"unknown apiVersion {raw.get('apiVersion')!r}: expected {API_VERSION!r}",
                label,
                name,
                "apiVersion",
            )
        ]
    if label is None:
        return None, [
            ConfigError(
                relative, f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}", None, name, "kind"
            )
        ]
    try:
        # by alias only: `max_deletes` is not `maxDeletes` (Python code may still use the field names)
        return KINDS[label].model_validate(raw, by_alias=True, by_name=False), []
    except ValidationError as err:
        errors = [
            ConfigError(
                relative, _message(detail), label, name or f"document {index + 1}", format_loc(detail["loc"])
            )
            for detail in err.errors(include_input=False)
        ]
        return None, errors


def read_config(
    paths: Path | str | Sequence[Path | str], *, root: Path | None = None, job: str | None = None
) -> Config:
    """Load every ``*.yaml`` / ``*.yml`` below ``paths``, each document checked on its own and names refused
    when declared twice (``engine.config.load_config`` adds the checks that need the whole configuration).

    :param job: load what this one ``SyncJob`` needs, for a task run or a DAG parse that names it: every
        ``SecretStore`` and the ``SyncJob`` documents named ``job``, not the other jobs. ``jobs`` and
        ``broken_jobs()`` then hold for ``job`` exactly what a full load gives them (no check needs another
        job), while ``errors`` lacks those of the other jobs and of files that cannot concern ``job``.
    """
    path_list = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if root is None:
        root = path_list[0] if len(path_list) == 1 and path_list[0].is_dir() else Path.cwd()
    config = Config(root=root)
    for path in path_list:
        if not path.exists():
            config.errors.append(ConfigError(str(path), "no such file or folder"))
    files = config_files(p for p in path_list if p.exists())
    if not files and not config.errors:
        config.errors.append(ConfigError(str(root), "no *.yaml or *.yml files found"))
    declared: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for file in files:
        text = None
        if job is not None and re.fullmatch(NAME_PATTERN, job):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                pass  # parse_documents reads it again and reports why it cannot
            else:
                if not _may_concern(text, job):
                    continue
        relative = config.relative(file)
        documents, errors = parse_documents(file, relative, text)
        config.errors.extend(errors)
        if errors:
            config.unparsed.append(file)
        for index, raw in documents:
            if job is not None and _is_other_job(raw, job):
                continue
            declaration = _declaration(raw)
            if declaration is not None:
                declared.setdefault(declaration, []).append((relative, index))
            model, errors = load_document(raw, relative, index)
            config.errors.extend(errors)
            if isinstance(model, SecretStore):
                config.stores.setdefault(model.metadata.name, LoadedStore(model, file))
            elif isinstance(model, SyncJob):
                config.jobs.setdefault(model.metadata.name, LoadedJob(model, file))
    _refuse_duplicates(config, declared)
    return config


def _declaration(raw: Any) -> tuple[str, str] | None:
    """The kind and name a document declares, valid or not: what makes two documents claim one name."""
    if not isinstance(raw, dict) or raw.get("kind") not in KINDS:
        return None
    name = _declared_name(raw)
    return (raw["kind"], name) if name is not None else None


def _refuse_duplicates(config: Config, declared: dict[tuple[str, str], list[tuple[str, int]]]) -> None:
    """A name declared twice is refused in all its declarations: which one was meant cannot be known, and
    taking the first file would silently run what another file says differently."""
    for (kind, name), places in declared.items():
        if len(places) < 2:
            continue
        if kind == "SecretStore":
            config.stores.pop(name, None)
        else:
            config.jobs.pop(name, None)
        files = [file for file, _ in places]
        named = [
            file if files.count(file) == 1 else f"{file} (document {index + 1})" for file, index in places
        ]
        config.errors.append(
            ConfigError(
                places[-1][0],
                f"duplicate name: also declared in {', '.join(named[:-1])}; no {kind} of this name is used "
                "until the name is unique",
                kind,
                name,
                "metadata.name",
            )
        )


def _may_concern(text: str, job: str) -> bool:
    """Whether a file's ``text`` may hold a ``SecretStore`` or a document named ``job``: far cheaper than
    loading it.

    YAML shows a string in the text as it is unless a double-quoted scalar escapes some of it, since neither
    ``SecretStore`` nor a valid name (``job`` must be one) holds a quote or white space that quoting or line
    folding could change. So a substring search decides most files; one where an escape may hide a string
    is scanned for it among its scalars. A file that cannot be scanned is loaded, to report why.
    """
    if "SecretStore" in text or job in text:
        return True
    if '"' not in text or "\\" not in text:
        return False
    try:
        return any(
            isinstance(event, yaml.ScalarEvent) and event.value in ("SecretStore", job)
            for event in yaml.parse(text, Loader=_FastUniqueKeyLoader)
        )
    except yaml.YAMLError:
        return True


def _is_other_job(raw: Any, job: str) -> bool:
    return isinstance(raw, dict) and raw.get("kind") == "SyncJob" and _declared_name(raw) != job
