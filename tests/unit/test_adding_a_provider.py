"""Adding a provider is one package and one registry entry: the spec's JSON Schema, Airflow's connection types
and the store contract suite pick it up with nothing else changed.

The fake provider (``tests/fake_provider/``) is registered in a fresh interpreter, before anything reads the
registry, exactly as a new line in ``PROVIDERS`` would be.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str) -> dict[str, object]:
    script = "import json, tests.fake_provider.plugin\n" + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_a_registered_provider_appears_in_the_spec_schema_and_validates() -> None:
    answer = run_python("""
        from airflow_secret_sync.spec.models import PROVIDER_KINDS, SecretStore
        from airflow_secret_sync.spec.schema import json_schema

        store = SecretStore.model_validate({
            "apiVersion": "secret-sync/v1alpha1", "kind": "SecretStore", "metadata": {"name": "fake"},
            "spec": {"provider": {"fakeVault": {"shelf": "top"}}},
        })
        print(json.dumps({
            "kinds": list(PROVIDER_KINDS),
            "provider": json_schema()["$defs"]["Provider"]["properties"]["fakeVault"],
            "loaded": [store.spec.provider.kind, store.spec.provider.settings.shelf],
        }))
    """)

    assert answer["kinds"] == [
        "vault",
        "aws",
        "awsParameterStore",
        "gcp",
        "kubernetes",
        "azureKeyVault",
        "file",
        "fakeVault",
    ]
    assert "FakeVaultProvider" in json.dumps(answer["provider"])
    assert answer["loaded"] == ["fakeVault", "top"]


def test_a_registered_provider_appears_in_the_connection_types() -> None:
    answer = run_python("""
        from airflow_secret_sync.get_provider_info import get_provider_info

        types = [entry["connection-type"] for entry in get_provider_info()["connection-types"]]
        print(json.dumps({"types": types}))
    """)

    assert answer["types"] == [
        "secret_sync_vault",
        "secret_sync_aws",
        "secret_sync_gcp",
        "secret_sync_kubernetes",
        "secret_sync_azure_key_vault",
        "secret_sync_file",
        "secret_sync_fake_vault",
    ]


def test_a_registered_provider_runs_the_store_contract_suite() -> None:
    done = run_pytest("tests/contract", "-p", "tests.fake_provider.plugin", "-k", "fakeVault")

    assert done.returncode == 0, done.stdout + done.stderr
    passed = next(line for line in done.stdout.splitlines() if " passed" in line)
    assert int(passed.split()[0]) > 20, passed


def test_a_provider_registered_without_its_contract_fixture_fails_the_suite() -> None:
    done = run_pytest("tests/contract/test_registry.py", "-p", "tests.fake_provider.plugin_without_fixture")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "provider 'fakeVault' names contract fixture 'nowhere_contract_store'" in done.stdout


def test_the_spec_and_validate_load_neither_airflow_nor_a_provider_client() -> None:
    """The registry names hooks and stores as strings: validating a config imports no hvac, boto3, Google."""
    code = """
        import contextlib, io, json, sys
        from airflow_secret_sync.cli import main

        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["validate", "dags/secret_sync"])
        heavy = ("airflow", "hvac", "boto3", "botocore", "google.cloud")
        below = tuple(name + "." for name in heavy)
        loaded = sorted(name for name in sys.modules if name in heavy or name.startswith(below))
        print(json.dumps({"code": code, "loaded": loaded}))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"code": 0, "loaded": []}
