"""The gRPC transport: the same backend behind the client library's own protobuf messages."""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, cast

from airflow_secret_sync.testing.gcp.errors import ApiError, invalid
from airflow_secret_sync.testing.gcp.storage import SecretManagerBackend

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
_PARENT = r"projects/(?P<project>[^/]+)(?:/locations/(?P<location>[^/]+))?"
_SECRET = _PARENT + r"/secrets/(?P<secret>[^/]+)"
_VERSION = _SECRET + r"/versions/(?P<version>[^/]+)"


def _parts(pattern: str, name: str) -> dict[str, Any]:
    match = re.fullmatch(pattern, name)
    if match is None:
        raise invalid(f"Resource ID [{name}] is not in a valid format.")
    return match.groupdict()


def start_grpc_server(backend: SecretManagerBackend, host: str, port: int) -> tuple[Any, int]:
    """Serve ``backend`` over insecure gRPC on ``host:port`` (0: a free port); returns (server, port)."""
    from concurrent import futures

    import grpc
    from google.cloud.secretmanager_v1.types import resources, service
    from google.protobuf import empty_pb2, json_format

    def to_dict(message: Any) -> dict[str, Any]:
        return cast("dict[str, Any]", json_format.MessageToDict(message))

    def build(cls: Any, data: Mapping[str, Any]) -> Any:
        return json_format.ParseDict(data, cls(), ignore_unknown_fields=True)

    def secret_parts(name: str) -> tuple[str, str | None, str]:
        parts = _parts(_SECRET, name)
        return parts["project"], parts["location"], parts["secret"]

    def version_parts(name: str) -> tuple[str, str | None, str, str]:
        parts = _parts(_VERSION, name)
        return parts["project"], parts["location"], parts["secret"], parts["version"]

    def list_secrets(req: Any) -> Any:
        parent = _parts(_PARENT, req.parent)
        out = backend.list_secrets(
            parent["project"],
            parent["location"],
            page_size=req.page_size,
            page_token=req.page_token,
            filter_text=req.filter,
        )
        return build(service.ListSecretsResponse.pb(), out)

    def create_secret(req: Any) -> Any:
        parent = _parts(_PARENT, req.parent)
        body = to_dict(req.secret) if req.HasField("secret") else {}
        out = backend.create_secret(parent["project"], parent["location"], req.secret_id, body)
        return build(resources.Secret.pb(), out)

    def update_secret(req: Any) -> Any:
        body = to_dict(req.secret)
        out = backend.update_secret(*secret_parts(req.secret.name), body, list(req.update_mask.paths))
        return build(resources.Secret.pb(), out)

    def version_state(action: str) -> Callable[[Any], Any]:
        def handler(req: Any) -> Any:
            out = backend.change_version_state(*version_parts(req.name), action, req.etag, enums_as_int=True)
            return build(resources.SecretVersion.pb(), out)

        return handler

    def list_versions(req: Any) -> Any:
        out = backend.list_versions(
            *secret_parts(req.parent),
            page_size=req.page_size,
            page_token=req.page_token,
            filter_text=req.filter,
            enums_as_int=True,
        )
        return build(service.ListSecretVersionsResponse.pb(), out)

    def add_version(req: Any) -> Any:
        body = {"payload": to_dict(req.payload)}
        out = backend.add_version(*secret_parts(req.parent), body, enums_as_int=True)
        return build(resources.SecretVersion.pb(), out)

    secret_pb, version_pb = resources.Secret.pb(), resources.SecretVersion.pb()
    methods: dict[str, tuple[Any, Any, Callable[[Any], Any]]] = {
        "ListSecrets": (service.ListSecretsRequest.pb(), service.ListSecretsResponse.pb(), list_secrets),
        "CreateSecret": (service.CreateSecretRequest.pb(), secret_pb, create_secret),
        "GetSecret": (
            service.GetSecretRequest.pb(),
            secret_pb,
            lambda req: build(secret_pb, backend.get_secret(*secret_parts(req.name))),
        ),
        "UpdateSecret": (service.UpdateSecretRequest.pb(), secret_pb, update_secret),
        "DeleteSecret": (
            service.DeleteSecretRequest.pb(),
            empty_pb2.Empty,
            lambda req: build(empty_pb2.Empty, backend.delete_secret(*secret_parts(req.name), req.etag)),
        ),
        "AddSecretVersion": (service.AddSecretVersionRequest.pb(), version_pb, add_version),
        "ListSecretVersions": (
            service.ListSecretVersionsRequest.pb(),
            service.ListSecretVersionsResponse.pb(),
            list_versions,
        ),
        "GetSecretVersion": (
            service.GetSecretVersionRequest.pb(),
            version_pb,
            lambda req: build(version_pb, backend.get_version(*version_parts(req.name), enums_as_int=True)),
        ),
        "AccessSecretVersion": (
            service.AccessSecretVersionRequest.pb(),
            service.AccessSecretVersionResponse.pb(),
            lambda req: build(
                service.AccessSecretVersionResponse.pb(), backend.access_version(*version_parts(req.name))
            ),
        ),
        "EnableSecretVersion": (service.EnableSecretVersionRequest.pb(), version_pb, version_state("enable")),
        "DisableSecretVersion": (
            service.DisableSecretVersionRequest.pb(),
            version_pb,
            version_state("disable"),
        ),
        "DestroySecretVersion": (
            service.DestroySecretVersionRequest.pb(),
            version_pb,
            version_state("destroy"),
        ),
    }

    def wrap(func: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        def behaviour(request: Any, context: Any) -> Any:
            try:
                return func(request)
            except ApiError as error:
                context.abort(getattr(grpc.StatusCode, error.status, grpc.StatusCode.UNKNOWN), error.message)
            except Exception:
                traceback.print_exc(file=sys.stderr)
                context.abort(grpc.StatusCode.INTERNAL, "Internal error in the emulator.")

        return behaviour

    handlers = {
        name: grpc.unary_unary_rpc_method_handler(
            wrap(func),
            request_deserializer=req_cls.FromString,
            response_serializer=resp_cls.SerializeToString,
        )
        for name, (req_cls, resp_cls, func) in methods.items()
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="gcp-sm-grpc"))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    if not bound:
        raise OSError(f"could not bind the gRPC server to {host}:{port}")
    server.start()
    return server, bound
