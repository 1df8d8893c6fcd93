"""JSON Schema of the documents, for editors (yaml-language-server) and the generated YAML reference."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from airflow_secret_sync.spec.models import API_VERSION, SecretStore, SyncJob

SCHEMA_ID = "https://airflow-secret-sync.dev/schema/v1alpha1.json"

Document = Annotated[SecretStore | SyncJob, Field(discriminator="kind")]


def json_schema() -> dict[str, Any]:
    """One schema accepting either document kind, chosen by ``kind``."""
    schema = TypeAdapter(Document).json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = f"airflow-secret-sync documents ({API_VERSION})"
    return schema
