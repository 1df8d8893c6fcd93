"""The documentation site builds strictly (no broken link, anchor or nav entry) and its pages keep up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_secret_sync.get_provider_info import get_provider_info

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's banner about MkDocs 2.0
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "images" / "airflow-graph-mapped-push.png").is_file()


def test_every_screenshot_is_shown_somewhere() -> None:
    text = "\n".join(path.read_text() for path in DOCS.rglob("*.md"))
    images = sorted(path.name for path in (DOCS / "images").glob("*.png"))
    assert images
    assert [image for image in images if f"images/{image}" not in text] == []


@pytest.mark.parametrize(
    "connection", get_provider_info()["connection-types"], ids=lambda conn: conn["connection-type"]
)
def test_the_providers_page_shows_every_connection_form(connection: dict) -> None:
    """The form fields listed in docs/providers/index.md are the ones the Airflow UI shows."""
    page = (DOCS / "providers" / "index.md").read_text()
    heading = f"### {connection['hook-name']} (`{connection['connection-type']}`)"
    assert heading in page
    section = page.split(heading, 1)[1].split("\n### ", 1)[0]
    relabeled = connection["ui-field-behaviour"]["relabeling"]
    for name, field in connection.get("conn-fields", {}).items():
        assert re.search(rf"^\| {re.escape(field['label'])} \| `{name}` \|", section, re.MULTILINE), name
    for label in relabeled.values():
        assert f"| {label} |" in section
