"""The test servers ship in the package but stay out of it at run time (the ``[testing]`` extra).

A runtime module importing ``airflow_secret_sync.testing`` would make every user install moto, OpenBao and
the toolchains, or fail on import; these tests catch such an import when it is written.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_secret_sync"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_runtime_module_imports_the_testing_package() -> None:
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(
            name for name in imported_modules(path) if name.startswith("airflow_secret_sync.testing")
        )
        for path in PACKAGE.rglob("*.py")
        if not path.is_relative_to(PACKAGE / "testing")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_importing_the_cli_and_the_provider_info_loads_no_test_server_code() -> None:
    probe = (
        "import sys, airflow_secret_sync.cli, airflow_secret_sync.get_provider_info; "
        "print(sorted(m for m in sys.modules if m.startswith(('airflow_secret_sync.testing', 'moto'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
