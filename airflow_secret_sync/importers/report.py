"""What an import produced: our documents per job, the connections to create, and every finding.

A finding names the source file and the field path in it. ``LEFT_OUT``: an item or store was not
translated at all. ``NOT_HONOURED``: a field was read and dropped because we cannot honour it. ``CHANGED``:
the translation behaves differently from the source tool in a way the user should know.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from airflow_secret_sync.spec.models import API_VERSION


class ImportInputError(ValueError):
    """The input cannot be read as the source tool's format: nothing is written (exit 2)."""


class Severity(StrEnum):
    LEFT_OUT = "left out"
    NOT_HONOURED = "not honoured"
    CHANGED = "changed"


@dataclass(frozen=True)
class Finding:
    file: str
    path: str
    severity: Severity
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.severity.value}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {
            "file": self.file,
            "path": self.path,
            "severity": self.severity.value,
            "message": self.message,
        }


@dataclass(frozen=True)
class ConnectionToCreate:
    """An Airflow connection the imported stores name; secret fields hold ``<PLACEHOLDER>`` text only."""

    conn_id: str
    conn_type: str
    fields: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    purpose: str = ""

    def command(self) -> str:
        document = dict(self.fields, conn_type=self.conn_type)
        if self.extra:
            document["extra"] = self.extra
        return (
            f"airflow connections add {shlex.quote(self.conn_id)} "
            f"--conn-json {shlex.quote(json.dumps(document, sort_keys=True))}"
        )


@dataclass
class ImportedJob:
    """One job's folder: its stores and the job, as plain documents."""

    name: str
    stores: list[dict[str, Any]]
    job: dict[str, Any]


@dataclass
class ImportResult:
    jobs: list[ImportedJob] = field(default_factory=list)
    connections: list[ConnectionToCreate] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def add(self, file: str, path: str, severity: Severity, message: str) -> None:
        finding = Finding(file, path, severity, message)
        if finding not in self.findings:  # a store shared by several jobs is reported once
            self.findings.append(finding)

    def add_connection(self, connection: ConnectionToCreate) -> None:
        if all(known.conn_id != connection.conn_id for known in self.connections):
            self.connections.append(connection)

    def drop_connection(self, conn_id: str) -> None:
        """Forget a connection whose store was left out after all."""
        self.connections = [known for known in self.connections if known.conn_id != conn_id]

    @property
    def incomplete(self) -> bool:
        """Something of the source was left out or not honoured."""
        return any(finding.severity is not Severity.CHANGED for finding in self.findings)

    def write(self, out_dir: Path) -> list[Path]:
        """One folder per job (``stores.yaml`` and ``job.yaml``) below ``out_dir``; the files written."""
        written = []
        for job in self.jobs:
            folder = out_dir / job.name
            folder.mkdir(parents=True, exist_ok=True)
            for name, documents in (("stores.yaml", job.stores), ("job.yaml", [job.job])):
                path = folder / name
                path.write_text(dump_documents(documents), encoding="utf-8")
                written.append(path)
        return written

    def report_text(self) -> str:
        lines = []
        if self.connections:
            lines.append(
                "# Create these Airflow connections (replace each <PLACEHOLDER> with the real value):"
            )
            for connection in self.connections:
                if connection.purpose:
                    lines.append(f"#   {connection.purpose}")
                lines.append(connection.command())
        if self.findings:
            lines.append("# Findings:")
            lines.extend(f"#   {finding}" for finding in self.findings)
        return "\n".join(lines) + ("\n" if lines else "")


def dump_documents(documents: list[dict[str, Any]]) -> str:
    # templates stay on one line each: a folded template is valid YAML but hard to review
    return yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True, width=4096)


def document_name(text: str) -> str:
    """A valid ``metadata.name`` made from ``text``: lower case, other characters as ``-``."""
    name = re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-_.")[:50].strip("-_.")
    return name or "imported"


def store_document(name: str, permissions: str, provider: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "SecretStore",
        "metadata": {"name": name},
        "spec": {"permissions": permissions, "provider": provider},
    }


def yaml_problem(err: yaml.YAMLError) -> str:
    """Where and what, without the quoted snippet PyYAML adds: that line may hold a secret's value."""
    mark = getattr(err, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    return f"not valid YAML: {where}{getattr(err, 'problem', None) or type(err).__name__}"
