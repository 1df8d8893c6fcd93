"""AWS Systems Manager Parameter Store (the connection type is Secrets Manager's: one AWS connection)."""

from __future__ import annotations

from airflow_secret_sync.providers.aws_parameter_store import spec
from airflow_secret_sync.providers.aws_secrets_manager import spec as aws_spec
from airflow_secret_sync.providers.info import ProviderInfo

INFO = ProviderInfo(
    kind="awsParameterStore",
    spec_model=spec.AwsParameterStoreProvider,
    store_factory="airflow_secret_sync.providers.aws_parameter_store.store:AwsParameterStore",
    hook_class="airflow_secret_sync.providers.aws_parameter_store.hook:AwsParameterStoreHook",
    change_signal="airflow_secret_sync.providers.aws_parameter_store.changes:change_signals",
    key_problem=spec.key_problem,
    value_limit=spec.value_limit,
    extra="aws",
    connection=None,
    contract_fixture="awsParameterStore_contract_store",
    tag_refusal=spec.tag_refusal,
    tag_problem=aws_spec.tag_problem,
)
