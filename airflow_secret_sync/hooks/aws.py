"""Deprecated: moved to ``airflow_secret_sync.providers``; these names stay importable for one release."""

from __future__ import annotations

from airflow_secret_sync.providers.moved import moved_names

__getattr__ = moved_names(
    __name__,
    {
        "AMAZON_CONN_TYPE": "aws.conn",
        "AwsConnectionSettings": "aws.conn",
        "AwsParameterStoreHook": "aws_parameter_store.hook",
        "AwsSecretsManagerHook": "aws_secrets_manager.hook",
        "CONN_TYPE": "aws.conn",
        "DEFAULT_CONN_NAME": "aws.conn",
        "DEFAULT_MAX_POOL_CONNECTIONS": "aws.conn",
        "DEFAULT_ROLE_SESSION_NAME": "aws.conn",
        "KNOWN_EXTRAS": "aws.conn",
        "LISTING_PAGES": "aws_secrets_manager.store",
        "LIST_FILTER_VALUES": "aws_secrets_manager.store",
        "RETRY_MODES": "aws.conn",
        "TAG_PREFIX": "aws.marker",
        "TAG_VALUE_LIMIT": "aws.marker",
        "aws_session": "aws.conn",
        "decode_tag_value": "aws.marker",
        "encode_tag_value": "aws.marker",
        "marker_from_tags": "aws.marker",
        "marker_tags": "aws.marker",
    },
)
