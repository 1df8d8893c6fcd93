"""AWS Secrets Manager."""

from __future__ import annotations

from airflow_secret_sync.providers.aws_secrets_manager import spec
from airflow_secret_sync.providers.info import ProviderInfo, integer_field, secret_field, text_field

CONNECTION = {
    "connection-type": "secret_sync_aws",
    "hook-class-name": "airflow_secret_sync.providers.aws_secrets_manager.hook.AwsSecretsManagerHook",
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
        "region_name": text_field("Region", "For example eu-west-1; a store's region setting wins."),
        "aws_session_token": secret_field("Session token", "With temporary credentials."),
        "role_arn": text_field("Role ARN", "Assume this role with the credentials above."),
        "external_id": text_field("External ID", "For assuming a role that requires one."),
        "role_session_name": text_field(
            "Role session name", "Shown in CloudTrail.", default="airflow-secret-sync"
        ),
        "profile_name": text_field("Profile name", "A profile of the shared AWS config files."),
        "endpoint_url": text_field(
            "Endpoint URL", "A VPC endpoint or a local emulator.", format="url", pattern="^https?://"
        ),
        "retry_mode": text_field(
            "Retry mode",
            "botocore retry mode; adaptive when empty.",
            enum=["standard", "adaptive", None],
        ),
        "max_attempts": integer_field(
            "Max attempts",
            "botocore attempts per call, the first included; 10 when empty.",
            minimum=1,
        ),
    },
}

INFO = ProviderInfo(
    kind="aws",
    spec_model=spec.AwsProvider,
    store_factory="airflow_secret_sync.providers.aws_secrets_manager.store:AwsSecretsManagerStore",
    hook_class="airflow_secret_sync.providers.aws_secrets_manager.hook:AwsSecretsManagerHook",
    change_signal="airflow_secret_sync.providers.aws_secrets_manager.changes:change_signals",
    key_problem=spec.key_problem,
    value_limit=spec.value_limit,
    extra="aws",
    connection=CONNECTION,
    contract_fixture="aws_contract_store",
    tag_refusal=spec.tag_refusal,
    tag_problem=spec.tag_problem,
)
