"""The built wheel, installed as users install it: ``uv build``, a clean virtualenv per extra, Airflow's
own view of the provider.

Each environment installs the wheel with one extra, pinned to the versions of ``uv.lock`` (so uv's cache
serves it), then asks Airflow's providers manager what it sees: the package, its version, and every
connection type with its hook. The base environment also runs the real ``airflow providers list`` and
``secret-sync`` commands.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.missing import missing

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[2]
# Each extra, the module it must make importable, and the connection types whose hooks Airflow can then
# load. A hook imports its client library, so Airflow registers a connection type only where its extra is
# installed; the file store needs none.
ALWAYS = {"secret_sync_file"}
EXTRAS: dict[str, tuple[str | None, set[str]]] = {
    "": (None, set()),
    "vault": ("hvac", {"secret_sync_vault"}),
    "aws": ("boto3", {"secret_sync_aws"}),
    "gcp": ("google.cloud.secretmanager", {"secret_sync_gcp"}),
    "kubernetes": ("kubernetes", {"secret_sync_kubernetes"}),
    "azure": ("azure.keyvault.secrets", {"secret_sync_azure_key_vault"}),
    "testing": ("moto.server", set()),
    "all": (
        None,
        {
            "secret_sync_vault",
            "secret_sync_aws",
            "secret_sync_gcp",
            "secret_sync_kubernetes",
            "secret_sync_azure_key_vault",
        },
    ),
}
PROBE = """
import importlib, importlib.metadata, json, sys
from airflow.providers_manager import ProvidersManager
manager = ProvidersManager()
provider = manager.providers.get("airflow-secret-sync")
hooks = {name: (info.hook_class_name if info else None) for name, info in manager.hooks.items()
         if name.startswith("secret_sync_")}
module = sys.argv[1]
if module:
    importlib.import_module(module)
print(json.dumps({"provider_version": provider.version if provider else None, "hooks": hooks,
                  "installed": importlib.metadata.version("airflow-secret-sync")}))
"""


def run(*argv: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(arg) for arg in argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=900, check=False
    )
    assert done.returncode == 0, (
        f"{argv}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if not Path(found).exists():
        missing("uv (pip install uv), which builds the wheel")
    return found


@pytest.fixture(scope="module")
def wheel(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(uv, "build", "--wheel", "--out-dir", out, ROOT, cwd=ROOT)
    (built,) = out.glob("airflow_secret_sync-*.whl")
    return built


@pytest.fixture(scope="module")
def pins(uv: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The locked versions, as constraints: each environment gets what the suite was tested with."""
    path = tmp_path_factory.mktemp("pins") / "constraints.txt"
    run(uv, "export", "--frozen", "--all-extras", "--no-hashes", "--no-emit-project", "-o", path, cwd=ROOT)
    return path


def install(uv: str, wheel: Path, pins: Path, extra: str, where: Path) -> tuple[Path, dict[str, str]]:
    venv = where / "venv"
    run(uv, "venv", "--quiet", "--python", sys.executable, venv)
    requirement = f"{wheel}[{extra}]" if extra else str(wheel)
    run(uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python", "-c", pins, requirement)
    home = where / "airflow-home"
    home.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(where),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    return venv, env


@pytest.mark.parametrize("extra", list(EXTRAS), ids=[extra or "no-extra" for extra in EXTRAS])
def test_the_wheel_installs_with_each_extra_and_airflow_sees_the_provider(
    uv: str, wheel: Path, pins: Path, extra: str, tmp_path: Path
) -> None:
    venv, env = install(uv, wheel, pins, extra, tmp_path)
    module, connection_types = EXTRAS[extra]
    # run from outside the source tree: `python -c` puts the working directory first on sys.path
    seen = json.loads(
        run(venv / "bin" / "python", "-c", PROBE, module or "", env=env, cwd=tmp_path).splitlines()[-1]
    )
    version = wheel.name.split("-")[1]
    assert seen["installed"] == version == importlib.metadata.version("airflow-secret-sync")
    assert seen["provider_version"] == version
    loaded = {name for name, hook in seen["hooks"].items() if hook}
    assert loaded >= ALWAYS | connection_types, seen["hooks"]
    site = run(
        venv / "bin" / "python",
        "-c",
        "import airflow_secret_sync, pathlib; print(pathlib.Path(airflow_secret_sync.__file__).parent)",
        env=env,
        cwd=tmp_path,
    ).strip()
    assert (Path(site) / "py.typed").exists()
    assert not Path(site).is_relative_to(ROOT)  # the wheel, not the source tree
    if extra == "all":
        the_commands_users_run_see_the_provider(venv, env, version, ALWAYS | connection_types, tmp_path)


def the_commands_users_run_see_the_provider(
    venv: Path, env: dict[str, str], version: str, types: set[str], cwd: Path
) -> None:
    """``airflow providers list`` / ``providers hooks`` and ``secret-sync --version``, as users run them."""
    listed = json.loads(run(venv / "bin" / "airflow", "providers", "list", "-o", "json", env=env, cwd=cwd))
    assert [item["version"] for item in listed if item["package_name"] == "airflow-secret-sync"] == [version]
    hooks = json.loads(run(venv / "bin" / "airflow", "providers", "hooks", "-o", "json", env=env, cwd=cwd))
    assert {
        hook["connection_type"] for hook in hooks if hook["package_name"] == "airflow-secret-sync"
    } >= types
    assert run(venv / "bin" / "secret-sync", "--version", env=env, cwd=cwd).split() == [
        "secret-sync",
        version,
    ]
