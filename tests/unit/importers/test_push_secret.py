"""``secret-sync import push-secret``: the translation of the example manifests (documents, connections,
findings); the round trip is in tests/integration/importers/test_push_secret_round_trip.py.
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
        "SecretStore 'doppler': spec.provider.doppler: left out: target left out "
        "(PushSecret 'push-app': spec.secretStoreRefs[5])",
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
    assert "apps_push_app_gcp" not in commands  # that store is left out (its remote key is no secret id)


def test_imported_push_secret_folders_validate(
    imported: tuple[int, str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, report, out = imported
    assert "does not validate" not in report
    assert main(["validate", str(out)]) == 0


def test_a_remote_key_parameter_store_refuses_gets_the_leading_slash_aws_requires(
    imported: tuple[int, str, Path],
) -> None:
    """External Secrets sends 'app/db' to PutParameter as it is, and AWS refuses a hierarchical name without
    a leading '/': that store's target gets the key rule making it '/app/db', each entry reported."""
    _, report, out = imported
    _, job = documents(out / "apps-push-app")
    assert job["spec"]["targets"][2] == {
        "store": "apps-push-app-aws-ps",
        "keyTransform": [{"regexp": {"source": "^([^/]+/)", "target": "/$1"}}],
    }
    for index in (0, 1):
        assert (
            f"manifests.yaml: PushSecret 'push-app': spec.data[{index}].match.remoteRef.remoteKey: changed: "
            "written as '/app/db' in target 'apps-push-app-aws-ps' (ClusterSecretStore 'aws-ps')"
        ) in report


def test_a_remote_key_a_store_refuses_otherwise_leaves_that_store_out_naming_the_entry(
    imported: tuple[int, str, Path],
) -> None:
    """A GCP secret id holds no '/': External Secrets' push of 'app/db' fails there, and no other name
    would be the same secret, so the GCP target is left out (the other stores keep the entries)."""
    _, report, out = imported
    stores, _ = documents(out / "apps-push-app")
    names = [store["metadata"]["name"] for store in stores]
    assert "apps-push-app-gcp" not in names and "apps-push-app-azure" not in names
    for index in (0, 1):
        for target, rule in (
            ("'apps-push-app-gcp' (ClusterSecretStore 'gcp')", "GCP secret ids allow only"),
            ("'apps-push-app-azure' (SecretStore 'azure')", "Azure Key Vault secret names allow only"),
        ):
            assert (
                f"manifests.yaml: PushSecret 'push-app': spec.data[{index}].match.remoteRef.remoteKey: left "
                f"out: target {target} left out: 'app/db' is not a valid name there: {rule}"
            ) in report


PUSH_TO_ONE_STORE = """\
kind: ClusterSecretStore
metadata: {{name: s}}
spec: {{provider: {{{provider}}}}}
---
kind: PushSecret
metadata: {{name: p, namespace: apps}}
spec:
  secretStoreRefs: [{{name: s, kind: ClusterSecretStore}}]
  selector: {{secret: {{name: creds}}}}
  data: [{{match: {{secretKey: a, remoteRef: {{remoteKey: "{remote_key}"}}}}}}]
"""


@pytest.mark.parametrize(
    ("provider", "remote_key"),
    [
        # a name under the store's prefix: External Secrets writes '/team/app/db', which AWS takes
        ("aws: {service: ParameterStore, prefix: /team/}", "app/db"),
        ("aws: {service: ParameterStore}", "/app/db"),
        ("aws: {service: ParameterStore}", "app-db"),
    ],
)
def test_a_valid_parameter_name_is_kept_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], provider: str, remote_key: str
) -> None:
    (tmp_path / "m.yaml").write_text(PUSH_TO_ONE_STORE.format(provider=provider, remote_key=remote_key))
    assert main(["import", "push-secret", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]) == 0
    _, job = documents(tmp_path / "out" / "apps-p")
    assert job["spec"]["targets"] == ["apps-p-s"]
    assert job["spec"]["plan"][0]["target"] == {"key": remote_key}


@pytest.mark.parametrize(
    ("auth", "connection", "finding"),
    [
        (
            "tenantId: t-1, authSecretRef: {clientId: {name: sp, key: id}, clientSecret: {name: sp, key: s}}",
            {"login": "<CLIENT_ID>", "password": "<CLIENT_SECRET>", "extra": {"tenantId": "t-1"}},
            None,
        ),
        (
            "authType: ManagedIdentity, identityId: 0000-1111",
            {"extra": {"managed_identity_client_id": "0000-1111"}},
            "spec.provider.azurekv.authType: changed: ManagedIdentity: the connection holds no secret",
        ),
        (
            "authType: WorkloadIdentity, tenantId: t-2, serviceAccountRef: {name: pusher}",
            {"extra": {"workload_identity_tenant_id": "t-2"}},
            "spec.provider.azurekv.authType: changed: WorkloadIdentity: the connection holds no secret",
        ),
    ],
)
def test_an_azure_key_vault_store_writes_names_as_external_secrets_does(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    auth: str,
    connection: dict[str, Any],
    finding: str | None,
) -> None:
    """No '/' -> '--' mapping (External Secrets has none), and 'secret/' is the object type, not the name."""
    provider = f"azurekv: {{vaultUrl: 'https://v.vault.azure.net', {auth}}}"
    (tmp_path / "m.yaml").write_text(PUSH_TO_ONE_STORE.format(provider=provider, remote_key="secret/db-pass"))
    assert main(["import", "push-secret", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]) == 0
    report, _ = capsys.readouterr()
    stores, job = documents(tmp_path / "out" / "apps-p")
    assert stores[1]["spec"]["provider"] == {
        "azureKeyVault": {"connId": "apps_p_s", "vaultUrl": "https://v.vault.azure.net", "nameMapping": {}}
    }
    assert job["spec"]["targets"] == [
        {"store": "apps-p-s", "keyTransform": [{"regexp": {"source": "^secret/", "target": ""}}]}
    ]
    assert (
        "m.yaml: PushSecret 'p': spec.data[0].match.remoteRef.remoteKey: changed: written as 'db-pass' in "
        "target 'apps-p-s' (ClusterSecretStore 's'): External Secrets reads 'secret/' as the Key Vault "
        "object type"
    ) in report
    (command,) = [
        line for line in report.splitlines() if line.startswith("airflow connections add apps_p_s ")
    ]
    assert json.loads(shlex.split(command)[5]) == {"conn_type": "secret_sync_azure_key_vault", **connection}
    if finding:
        assert f"m.yaml: ClusterSecretStore 's': {finding}" in report


def test_a_whole_secret_into_parameter_store_is_reported_as_written_decoded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = PUSH_TO_ONE_STORE.format(provider="aws: {service: ParameterStore}", remote_key="app-all")
    (tmp_path / "m.yaml").write_text(manifest.replace("secretKey: a, ", ""))
    assert main(["import", "push-secret", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]) == 0
    report, _ = capsys.readouterr()
    assert (
        "m.yaml: PushSecret 'p': spec.data[0]: changed: the whole Secret goes into apps-p-s as JSON of its "
        "values as text; External Secrets writes them base64-encoded there"
    ) in report


def test_a_push_secret_whose_only_store_refuses_its_key_is_left_out_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "m.yaml").write_text(
        PUSH_TO_ONE_STORE.format(provider="aws: {service: ParameterStore}", remote_key="app/bad name")
    )
    assert main(["import", "push-secret", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")]) == 1
    report, _ = capsys.readouterr()
    assert (
        "m.yaml: PushSecret 'p': spec.data[0].match.remoteRef.remoteKey: left out: target 'apps-p-s' "
        "(ClusterSecretStore 's') left out: 'app/bad name' is not a valid name there: parameter names allow "
        "only letters"
    ) in report
    assert "m.yaml: PushSecret 'p': spec.secretStoreRefs: left out: PushSecret left out" in report
    assert "airflow connections add apps_p_s" not in report
    assert not (tmp_path / "out").exists()


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


def import_one(tmp_path: Path, capsys: pytest.CaptureFixture[str], manifest: str) -> tuple[int, str, Path]:
    (tmp_path / "m.yaml").write_text(manifest)
    code = main(["import", "push-secret", str(tmp_path / "m.yaml"), "-o", str(tmp_path / "out")])
    report, _ = capsys.readouterr()
    return code, report, tmp_path / "out" / "apps-p"


VAULT = "vault: {server: 'https://v:8200', path: kv, "


@pytest.mark.parametrize(
    ("provider", "block", "connection", "finding"),
    [
        (
            VAULT + "version: v1, auth: {userPass: {path: up, username: bob, secretRef: {name: s, key: p}}}}",
            {"vault": {"connId": "apps_p_s", "mount": "kv", "kvVersion": 1}},
            {
                "login": "bob",
                "password": "<PASSWORD>",
                "extra": {"auth_type": "userpass", "auth_mount_point": "up"},
            },
            None,
        ),
        (
            VAULT + "auth: {jwt: {path: jwt-k8s, role: pusher}}}",
            {"vault": {"connId": "apps_p_s", "mount": "kv", "kvVersion": 2}},
            {"extra": {"auth_type": "jwt", "role": "pusher", "jwt": "<JWT>", "auth_mount_point": "jwt-k8s"}},
            None,
        ),
        (
            VAULT + "auth: {cert: {clientCert: {name: c, key: k}}}}",
            {"vault": {"connId": "apps_p_s", "mount": "kv", "kvVersion": 2}},
            {"password": "<VAULT_TOKEN>", "extra": {"auth_type": "token"}},
            "spec.provider.vault.auth: not honoured: auth method 'cert' has no equivalent here: token auth "
            "assumed",
        ),
        (
            "aws: {service: SecretsManager, region: r, prefix: team/, role: 'arn:aws:iam::1:role/x', "
            "externalID: ext, secretsManager: {forceDeleteWithoutRecovery: true}}",
            {"aws": {"connId": "apps_p_s", "region": "r", "prefix": "team/", "recoveryWindowDays": None}},
            {"extra": {"role_arn": "arn:aws:iam::1:role/x", "external_id": "ext"}},
            None,
        ),
        (
            "gcpsm: {projectID: p, location: europe-west1, auth: {workloadIdentity: {clusterName: c}}}",
            {"gcp": {"connId": "apps_p_s", "projectId": "p", "location": "europe-west1"}},
            {"extra": {"project": "p"}},
            "spec.provider.gcpsm.auth.workloadIdentity: changed: workload identity",
        ),
    ],
)
def test_each_provider_setting_becomes_a_store_field_or_a_connection_placeholder(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    provider: str,
    block: dict[str, Any],
    connection: dict[str, Any],
    finding: str | None,
) -> None:
    code, report, out = import_one(
        tmp_path, capsys, PUSH_TO_ONE_STORE.format(provider=provider, remote_key="b")
    )
    assert code == (1 if finding and "not honoured" in finding else 0)
    stores, _ = documents(out)
    assert stores[1]["spec"]["provider"] == block
    (command,) = [
        line for line in report.splitlines() if line.startswith("airflow connections add apps_p_s ")
    ]
    document = json.loads(shlex.split(command)[5])
    assert {
        key: value for key, value in document.items() if key not in ("conn_type", "host", "port", "schema")
    } == (connection)
    if finding:
        assert f"m.yaml: ClusterSecretStore 's': {finding}" in report


TEMPLATED = """\
kind: ClusterSecretStore
metadata: {{name: s}}
spec: {{provider: {{gcpsm: {{projectID: p}}}}}}
---
kind: PushSecret
metadata: {{name: p, namespace: apps}}
spec:
  secretStoreRefs: [{{name: s, kind: ClusterSecretStore}}]
  selector: {{secret: {{name: creds}}}}
{extra}
  data:
    - match: {{secretKey: a, remoteRef: {{remoteKey: ra}}}}
    - match: {{secretKey: b, remoteRef: {{remoteKey: rb}}}}
"""


@pytest.mark.parametrize(
    ("extra", "plan", "finding"),
    [
        # Sprig functions with a Jinja filter of the same meaning
        (
            "  template:\n    mergePolicy: Merge\n    data:\n"
            "      a: '{{ .a | b64dec | trim | upper }}-{{ .b | lower | toString }}'",
            [
                {
                    "sources": {
                        "data_a": {"key": "creds", "property": "a"},
                        "data_b": {"key": "creds", "property": "b"},
                    },
                    "template": "{{ (((data_a | b64decode) | trim) | upper) }}-"
                    "{{ ((data_b | lower) | string) }}",
                    "target": {"key": "ra"},
                },
                {"secret": {"key": "creds", "property": "b"}, "target": {"key": "rb"}},
            ],
            None,
        ),
        # mergePolicy Replace (the default): the templated Secret holds only the template's keys
        (
            "  template:\n    data:\n      a: 'x{{ .a }}'",
            [
                {
                    "sources": {"data_a": {"key": "creds", "property": "a"}},
                    "template": "x{{ data_a }}",
                    "target": {"key": "ra"},
                }
            ],
            "spec.data[1]: left out: entry left out: with mergePolicy Replace the templated Secret lacks 'b'",
        ),
        (
            "  template:\n    metadata: {labels: {a: b}}\n    mergePolicy: Merge\n"
            "    data:\n      a: '{{ .a }}'",
            None,
            "spec.template.metadata: not honoured",
        ),
        (
            "  template:\n    templateFrom: [{configMap: {name: c, items: [{key: k}]}}]",
            None,
            "spec.template.templateFrom: left out: PushSecret left out: templates kept in ConfigMaps",
        ),
        (
            "  template:\n    engineVersion: v1\n    data:\n      a: '{{ .a }}'",
            None,
            "spec.template.engineVersion: left out: PushSecret left out: only engineVersion v2",
        ),
        ("  dataTo: [{storeRef: {name: s}}]", None, "spec.dataTo: not honoured: no equivalent: ignored"),
    ],
)
def test_templates_and_push_secret_fields(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: str,
    plan: list[dict[str, Any]] | None,
    finding: str | None,
) -> None:
    code, report, out = import_one(tmp_path, capsys, TEMPLATED.format(extra=extra))
    assert code == (1 if finding else 0)
    if plan is not None:
        _, job = documents(out)
        assert job["spec"]["plan"] == plan
    if finding:
        assert f"m.yaml: PushSecret 'p': {finding}" in report


def test_a_store_label_selector_takes_match_labels_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = PUSH_TO_ONE_STORE.format(provider="gcpsm: {projectID: p}", remote_key="b").replace(
        "[{name: s, kind: ClusterSecretStore}]",
        "[{kind: ClusterSecretStore, labelSelector: {matchExpressions: [{key: a, operator: Exists}]}}]",
    )
    code, report, out = import_one(tmp_path, capsys, manifest)
    assert code == 1 and not out.exists()
    assert (
        "m.yaml: PushSecret 'p': spec.secretStoreRefs[0]: left out: only labelSelector.matchLabels translates"
    ) in report


@pytest.mark.parametrize(
    ("refs", "finding"),
    [
        (
            "[{name: s, kind: ClusterSecretStore}, {name: elsewhere}]",
            "spec.secretStoreRefs[1]: left out: SecretStore 'elsewhere' is not among the manifests given",
        ),
        (
            "[{name: s, kind: ClusterSecretStore},"
            " {kind: ClusterSecretStore, labelSelector: {matchLabels: {a: b}}}]",
            "spec.secretStoreRefs[1]: left out: no ClusterSecretStore among the manifests matches the labels",
        ),
    ],
)
def test_a_store_reference_nothing_answers_is_reported_and_the_others_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], refs: str, finding: str
) -> None:
    manifest = PUSH_TO_ONE_STORE.format(provider="gcpsm: {projectID: p}", remote_key="b").replace(
        "[{name: s, kind: ClusterSecretStore}]", refs
    )
    code, report, out = import_one(tmp_path, capsys, manifest)
    assert code == 1
    assert f"m.yaml: PushSecret 'p': {finding}" in report
    _, job = documents(out)
    assert job["spec"]["targets"] == ["apps-p-s"]
