"""Kubernetes Secrets as a secret store (provider kind ``kubernetes``) on the official client."""

from __future__ import annotations

from airflow_secret_sync.providers.info import ProviderInfo, form_field, secret_field, text_field
from airflow_secret_sync.providers.kubernetes import spec

CONNECTION = {
    "connection-type": "secret_sync_kubernetes",
    "hook-class-name": "airflow_secret_sync.providers.kubernetes.hook.KubernetesSecretStoreHook",
    "hook-name": "Secret Sync: Kubernetes Secrets",
    "ui-field-behaviour": {
        "hidden-fields": ["port", "schema", "login", "extra"],
        "relabeling": {"host": "API server URL", "password": "Bearer token"},
        "placeholders": {
            "host": "https://kubernetes.example.com:6443 (bearer token form only)",
            "password": "a service account token (bearer token form only)",
        },
    },
    "conn-fields": {
        "in_cluster": form_field(
            "In cluster", ["boolean", "null"], "Use the pod's service account.", default=False
        ),
        "kube_config_path": text_field("Kubeconfig path", "A kubeconfig file on the workers."),
        "kube_config": secret_field("Kubeconfig (JSON)", "A whole kubeconfig, as JSON."),
        "cluster_context": text_field("Context", "The kubeconfig context to use, if not its current one."),
        "namespace": text_field("Namespace", "The default namespace; a store's namespace wins."),
        "disable_verify_ssl": form_field(
            "Disable TLS verification", ["boolean", "null"], "Do not check the server's certificate."
        ),
        "ca_cert": text_field("CA certificate (PEM)", "Bearer token form: the CA of the API server."),
        "ca_cert_path": text_field("CA certificate path", "Bearer token form: a PEM file with that CA."),
    },
}

INFO = ProviderInfo(
    kind="kubernetes",
    spec_model=spec.KubernetesProvider,
    store_factory="airflow_secret_sync.providers.kubernetes.store:open_kubernetes_store",
    hook_class="airflow_secret_sync.providers.kubernetes.hook:KubernetesSecretStoreHook",
    change_signal="airflow_secret_sync.providers.kubernetes.changes:change_signals",
    key_problem=spec.key_problem,
    value_limit=spec.value_limit,
    extra="kubernetes",
    connection=CONNECTION,
    contract_fixture="kubernetes_contract_store",
    tag_refusal=spec.tag_refusal,
    tag_problem=spec.tag_problem,
)
