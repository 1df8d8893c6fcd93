"""Provider metadata read by Airflow's providers manager (entry point ``apache_airflow_provider``).

Since Airflow 3.2 the connection forms are built from this dict (``ui-field-behaviour`` and ``conn-fields``),
without importing the hooks: nothing here imports a hook module or a provider client.
"""

from __future__ import annotations

from typing import Any

_HOOKS = "airflow_secret_sync.hooks"


def _field(label: str, kind: str | list[str], description: str = "", **schema: Any) -> dict[str, Any]:
    """One extra field of a connection form; ``schema`` adds JSON Schema keywords (default, enum, format)."""
    field: dict[str, Any] = {"label": label, "schema": {"type": kind, **schema}}
    if description:
        field["description"] = description
    return field


def _text(label: str, description: str = "", **schema: Any) -> dict[str, Any]:
    return _field(label, ["string", "null"], description, **schema)


def _secret(label: str, description: str = "") -> dict[str, Any]:
    return _field(label, ["string", "null"], description, format="password")


def _integer(label: str, description: str = "", **schema: Any) -> dict[str, Any]:
    return _field(label, ["integer", "null"], description, **schema)


VAULT = {
    "connection-type": "secret_sync_vault",
    "hook-class-name": f"{_HOOKS}.vault.VaultSecretStoreHook",
    "hook-name": "Secret Sync: Vault / OpenBao",
    "ui-field-behaviour": {
        "hidden-fields": ["extra"],
        "relabeling": {
            "schema": "Scheme (http or https)",
            "login": "Username / Role ID",
            "password": "Token / Password / Secret ID",
        },
        "placeholders": {
            "host": "vault.example.com, or a full URL such as https://vault.example.com:8200",
            "port": "8200",
            "schema": "https",
            "login": "userpass: the username; approle: the role ID",
            "password": "token: the token; userpass: the password; approle: the secret ID",
        },
    },
    "conn-fields": {
        "auth_type": _text(
            "Auth method",
            "How to log in: token (password), approle (login + password), userpass (login + password), "
            "kubernetes (role + service account token file) or jwt (role + jwt).",
            enum=["token", "approle", "userpass", "kubernetes", "jwt"],
            default="token",
        ),
        "namespace": _text("Namespace", "Vault Enterprise / OpenBao namespace, if any."),
        "verify": _field("Verify TLS", ["boolean", "null"], "Check the server's certificate.", default=True),
        "ca_bundle": _text("CA bundle", "Path of a PEM file with the CA certificates to trust."),
        "timeout": _integer("Timeout (seconds)", "Per request.", default=30, minimum=1),
        "auth_mount_point": _text(
            "Auth mount point", "Where the auth method is mounted, if not its default path."
        ),
        "role": _text("Role", "kubernetes and jwt auth: the role to log in as."),
        "kubernetes_jwt_path": _text(
            "Kubernetes token path",
            "kubernetes auth: the service account token file.",
            default="/var/run/secrets/kubernetes.io/serviceaccount/token",
        ),
        "jwt": _secret("JWT", "jwt auth: the token to log in with."),
        "retries": _integer(
            "Retries", "Retries on connection errors, 429 and 5xx responses.", default=3, minimum=0
        ),
    },
}

AWS = {
    "connection-type": "secret_sync_aws",
    "hook-class-name": f"{_HOOKS}.aws.AwsSecretsManagerHook",
    "hook-name": "Secret Sync: AWS",  # one connection type for Secrets Manager and Parameter Store
    "ui-field-behaviour": {
        "hidden-fields": ["host", "port", "schema", "extra"],
        "relabeling": {"login": "Access key ID", "password": "Secret access key"},
        "placeholders": {
            "login": "leave empty to use the default credential chain (instance role, environment, profile)",
            "password": "leave empty to use the default credential chain",
        },
    },
    "conn-fields": {
        "region_name": _text("Region", "For example eu-west-1; a store's region setting wins."),
        "aws_session_token": _secret("Session token", "With temporary credentials."),
        "role_arn": _text("Role ARN", "Assume this role with the credentials above."),
        "external_id": _text("External ID", "For assuming a role that requires one."),
        "role_session_name": _text(
            "Role session name", "Shown in CloudTrail.", default="airflow-secret-sync"
        ),
        "profile_name": _text("Profile name", "A profile of the shared AWS config files."),
        "endpoint_url": _text(
            "Endpoint URL", "A VPC endpoint or a local emulator.", format="url", pattern="^https?://"
        ),
        "retry_mode": _text(
            "Retry mode",
            "botocore retry mode; botocore's default when empty.",
            enum=["standard", "adaptive", None],
        ),
        "max_attempts": _integer(
            "Max attempts",
            "botocore attempts per call, the first included; botocore's default when empty.",
            minimum=1,
        ),
    },
}

GCP = {
    "connection-type": "secret_sync_gcp",
    "hook-class-name": f"{_HOOKS}.gcp.GcpSecretManagerHook",
    "hook-name": "Secret Sync: GCP Secret Manager",
    "ui-field-behaviour": {
        "hidden-fields": ["host", "port", "schema", "login", "password", "extra"],
        "relabeling": {},
        "placeholders": {},
    },
    "conn-fields": {
        "project": _text("Project ID", "The default project; a store's projectId wins."),
        "key_path": _text(
            "Key file path",
            "A service account key file; leave both key fields empty to use Application Default Credentials.",
        ),
        "keyfile_dict": _secret("Key file JSON", "The service account key file's content."),
        "api_endpoint": _text("API endpoint", "A regional or private endpoint, or an emulator."),
        "transport": _text(
            "Transport", "How the client talks to the API.", enum=["rest", "grpc"], default="rest"
        ),
    },
}

FILE = {
    "connection-type": "secret_sync_file",
    "hook-class-name": f"{_HOOKS}.file.FileSecretStoreHook",
    "hook-name": "Secret Sync: file store",
    "ui-field-behaviour": {
        # A file store needs no connection: its folder is declared in the SecretStore document.
        "hidden-fields": ["host", "port", "schema", "login", "password", "extra"],
        "relabeling": {},
        "placeholders": {},
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-secret-sync",
        "name": "Secret Sync",
        "description": "Keep secrets in sync between secret stores, scheduled and audited by Airflow.",
        "versions": ["0.1.0"],
        "connection-types": [VAULT, AWS, GCP, FILE],
    }
