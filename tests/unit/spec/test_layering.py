"""The spec is a leaf: it never imports the engine, and its modules import one another without a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import airflow_secret_sync

PACKAGE = Path(airflow_secret_sync.__file__).parent
SPEC_LAYER = sorted(
    [
        *(PACKAGE / "spec").glob("*.py"),
        *(PACKAGE / "providers").glob("*/spec.py"),
        PACKAGE / "providers" / "info.py",
        PACKAGE / "providers" / "registry.py",
    ]
)


def _runtime_imports(path: Path) -> set[str]:
    """The modules ``path`` imports when it runs (function-level imports too), not those only a type
    checker reads under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(node)
        for branch in ast.walk(tree)
        if isinstance(branch, ast.If)
        and ast.unparse(branch.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for statement in branch.body
        for node in ast.walk(statement)
    }
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                ).strip(".")
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_no_module_of_the_spec_layer_imports_the_engine():
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(
            name for name in _runtime_imports(path) if name.startswith("airflow_secret_sync.engine")
        )
        for path in SPEC_LAYER
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_loading_and_checking_documents_leaves_the_engine_unimported():
    code = (
        "import sys\n"
        "from airflow_secret_sync.spec import checks, loader, models, reference, schema\n"
        "from airflow_secret_sync.providers import registry\n"
        "print(sorted(name for name in sys.modules if name.startswith('airflow_secret_sync.engine')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_spec_modules_import_one_another_without_a_cycle():
    modules = {f"airflow_secret_sync.spec.{path.stem}": path for path in (PACKAGE / "spec").glob("*.py")}
    imports = {
        module: {name for name in _runtime_imports(path) if name in modules and name != module}
        for module, path in modules.items()
    }
    cycles = []
    for start in imports:
        stack = [(start, (start,))]
        while stack:
            module, chain = stack.pop()
            for imported in imports[module]:
                if imported == start:
                    cycles.append(" -> ".join((*chain, start)))
                elif imported not in chain:
                    stack.append((imported, (*chain, imported)))
    assert cycles == []
