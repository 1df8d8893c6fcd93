"""``secret-sync import push-secret``: the translation of the example manifests (documents, connections,
findings). The round trip waits on the target keys of the example: see the strict xfail.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_secret_sync.cli import main
from airflow_secret_sync.importers.push_secret import go_duration_seconds, schedule_for
from airflow_secret_sync.spec.models import SecretStore, SyncJob

MANIFESTS = (
    Path(__file__).parents[2] / "integration" / "importers" / "examples" / "push-secret" / "manifests.yaml"
)
SECRET_VALUES = ("alice", "never-copy-this-password")


@pytest.fixture
def imported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, Path]:
    out = tmp_path / "out"
    code = main(["import", "push-secret", str(MANIFESTS), "-o", str(out)])
    report, err = capsys.readouterr()
    for value in SECRET_VALUES:
        assert value not in report + err
        for path in out.rglob("*.yaml"):
            assert value not in path.read_text(), f"a Secret's value reached {path}"
    return code, report, out


def documents(folder: Path) -> tuple[list[Any], Any]:
    stores = list(yaml.safe_load_all((folder / "stores.yaml").read_text()))
    return stores, yaml.safe_load((folder / "job.yaml").read_text())


def test_one_job_per_translatable_push_secret_with_one_target_per_store(
    imported: tuple[int, str, Path],
) -> None:
    code, _, out = imported
    assert code == 1  # some constructs are left out (asserted below)
    assert sorted(path.name for path in out.iterdir()) == ["apps-push-app", "default-push-whole"]
    stores, job = documents(out / "apps-push-app")
    providers = {store["metadata"]["name"]: store["spec"]["provider"] for store in stores}
    assert providers == {
        "apps-push-app-source": {"kubernetes": {"connId": "kubernetes_default", "namespace": "apps"}},
        "apps-push-app-vault-backend": {
            "vault": {"connId": "apps_push_app_vault_backend", "mount": "secret", "kvVersion": 2}
        },
        "apps-push-app-aws-sm": {
            "aws": {"connId": "apps_push_app_aws_sm", "region": "eu-west-1", "recoveryWindowDays": 7}
        },
        "apps-push-app-aws-ps": {
            "awsParameterStore": {"connId": "apps_push_app_aws_ps", "region": "eu-west-1"}
        },
        "apps-push-app-gcp": {"gcp": {"connId": "apps_push_app_gcp", "projectId": "my-project"}},
    }
    # every document but the Kubernetes source validates with today's models
    for store in stores[1:]:
        SecretStore.model_validate(store)
    parsed = SyncJob.model_validate(job)
    assert parsed.spec.schedule == "1h30m"
    assert (parsed.spec.update_policy.value, parsed.spec.deletion_policy.value) == ("IfNotExists", "Delete")
    assert [store.store for store in parsed.spec.target_specs] == [
        "apps-push-app-vault-backend",
        "apps-push-app-aws-sm",
        "apps-push-app-aws-ps",
        "apps-push-app-gcp",
    ]
    assert job["spec"]["plan"] == [
        {
            "secret": {"key": "app-credentials", "property": "username"},
            "target": {"key": "app/db", "property": "user"},
        },
        {
            "sources": {"data_password": {"key": "app-credentials", "property": "password"}},
            "template": "{{ (data_password | b64encode) }}",
            "target": {"key": "app/db", "property": "pass"},
        },
    ]
    _, whole = documents(out / "default-push-whole")
    assert whole["spec"]["schedule"] is None
    assert whole["spec"]["plan"] == [{"secret": {"key": "app-credentials"}, "target": {"key": "app/whole"}}]


def test_everything_not_translated_is_reported_with_its_place(imported: tuple[int, str, Path]) -> None:
    _, report, _ = imported
    expected = [
        "SecretStore 'azure': spec.provider.azurekv: left out: target left out "
        "(PushSecret 'push-app': spec.secretStoreRefs[4])",
        "PushSecret 'push-app': spec.template.data.greeting: left out: entry 2 left out: 'if'",
        "PushSecret 'push-app': spec.data[3].conversionStrategy: left out",
        "PushSecret 'push-app': spec.data[4]: left out: entry left out: a whole templated Secret",
        "PushSecret 'push-labelled': spec.selector: left out",
        "PushSecret 'push-generated': spec.selector: left out: PushSecret left out: a generator",
        "ClusterSecretStore 'aws-sm': spec.retrySettings: not honoured",
        "document 0: not honoured: kind 'Secret' ignored",
        "PushSecret 'push-whole': spec.refreshInterval: changed: 0",
    ]
    for text in expected:
        assert f"manifests.yaml: {text}" in report
    assert report.count("spec.retrySettings") == 1  # a store shared by two jobs is reported once


def test_credentials_become_placeholders_in_printed_commands(imported: tuple[int, str, Path]) -> None:
    _, report, _ = imported
    commands = {
        shlex.split(line)[3]: json.loads(shlex.split(line)[5])
        for line in report.splitlines()
        if line.startswith("airflow connections add ")
    }
    assert commands["apps_push_app_vault_backend"] == {
        "conn_type": "secret_sync_vault",
        "host": "vault.example",
        "port": 8200,
        "schema": "https",
        "login": "8a1b-role",
        "password": "<SECRET_ID>",
        "extra": {"auth_type": "approle", "auth_mount_point": "approle", "namespace": "team-a"},
    }
    assert commands["apps_push_app_aws_sm"]["password"] == "<AWS_SECRET_ACCESS_KEY>"
    assert commands["apps_push_app_aws_ps"] == {"conn_type": "secret_sync_aws"}  # IRSA: the default chain
    assert commands["apps_push_app_gcp"]["extra"]["keyfile_dict"] == "<SERVICE_ACCOUNT_KEY_JSON>"


@pytest.mark.xfail(
    strict=True,
    reason="the kubernetes source store validates now; the example's remoteKey 'app/db' is still no valid "
    "Parameter Store name (no leading '/') nor GCP secret id, and the importer neither rewrites nor refuses "
    "it: when it does, this passes; then add the round trip against the kube-apiserver fixture",
)
def test_imported_push_secret_folders_validate_once_the_kubernetes_store_exists(
    imported: tuple[int, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, report, out = imported
    assert "does not validate" not in report
    assert main(["validate", str(out)]) == 0


@pytest.mark.parametrize(
    ("interval", "schedule"),
    [("1h0m0s", "1h"), ("10s", "10s"), ("1h30m", "1h30m"), ("90m", "1h30m"), ("1.5s", "2s"), ("250ms", "1s")],
)
def test_refresh_interval_becomes_a_duration_schedule(interval: str, schedule: str) -> None:
    assert schedule_for(go_duration_seconds(interval)) == schedule


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n", "no PushSecret found"),
        (
            "kind: PushSecret\nmetadata: {name: p}\nspec:\n  updatePolicy: Sometimes\n"
            "  secretStoreRefs: [{name: s, kind: ClusterSecretStore}]\n  selector: {secret: {name: x}}\n"
            "  data: [{match: {secretKey: a, remoteRef: {remoteKey: b}}}]\n---\n"
            "kind: ClusterSecretStore\nmetadata: {name: s}\nspec: {provider: {gcpsm: {projectID: p}}}\n",
            "spec.updatePolicy: expected Replace or IfNotExists",
        ),
        ("kind: PushSecret\nspec: [\n", "not valid YAML"),
        # PyYAML quotes the offending line in its messages: here it would be a Secret's value
        (
            "kind: Secret\nstringData: {password: never-copy-this-password]\n",
            "line 2, column 48: expected ','",
        ),
    ],
)
def test_bad_manifests_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: str, message: str
) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(manifest)
    code = main(["import", "push-secret", str(path), "-o", str(tmp_path / "out")])
    _, err = capsys.readouterr()
    assert code == 2 and message in err and "nothing was written" in err
    assert "never-copy-this-password" not in err
    assert not (tmp_path / "out").exists()
