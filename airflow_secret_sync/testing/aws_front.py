"""moto server with the limits AWS documents and moto skips, and sustained throttling on demand.

moto accepts a 70 KB secret, a 9 KB Standard parameter, 51 tags or an ``aws:`` tag key; AWS refuses each.
This module runs moto's own WSGI application (as ``moto_server`` does) behind a front that checks each
Secrets Manager and Parameter Store request (both speak JSON with an ``X-Amz-Target`` header) against those
limits first and answers a breach with AWS's error code and message. Every rule cites its source.

Control endpoints (besides moto's ``/moto-api/...``):

- ``POST /front/throttle`` ``{"seconds": 5, "operations": ["PutSecretValue"]}``: every request (or those
  operations only) gets ``ThrottlingException: Rate exceeded`` until the time is up, as a sustained
  throttle does; ``{"seconds": 0}`` ends it. ``POST /moto-api/reset`` ends it too.

Run: ``python -m airflow_secret_sync.testing.aws_front --port 5000`` (see :func:`servers.moto_front`).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# Secrets Manager quotas, "Secret value size: 65,536 bytes"
# (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html) and the
# SecretString / SecretBinary length constraints of CreateSecret / PutSecretValue / UpdateSecret
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html).
SECRET_VALUE_BYTES = 65_536
# "Standard ... 4 KB", "Advanced ... 8 KB" per parameter value
# (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html);
# AWS's refusal counts characters ("a maximum parameter value of 4096 characters").
PARAMETER_VALUE_CHARS = {"Standard": 4096, "Advanced": 8192}
# "Maximum number of tags per secret: 50", "Tags with this prefix [aws:] do not count against your tags
# per secret limit" (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html);
# 50 user tags per resource for Parameter Store too
# (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html#tag-conventions).
MAX_TAGS = 50
# Tag Key 1-128, Value 0-256 characters
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Tag.html,
# https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_Tag.html).
TAG_KEY_CHARS = 128
TAG_VALUE_CHARS = 256
# ListSecrets MaxResults 1-100 (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html)
LIST_SECRETS_MAX_RESULTS = 100
# DescribeParameters MaxResults 1-50
# (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html)
DESCRIBE_PARAMETERS_MAX_RESULTS = 50
# BatchGetSecretValue SecretIdList 1-20 items, MaxResults 1-20
# (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html)
BATCH_GET_MAX_SECRETS = 20
# The tag character set, as the Tag patterns of the API references write it: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$
TAG_PATTERN = r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
_TAG_SYMBOLS = frozenset("_.:/=+-@")

_ADVANCED_URL = (
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html"
)
_REGION = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/")
_ACCESS_KEY = re.compile(r"Credential=([^/]+)/")


class Refusal(Exception):
    """A request AWS would refuse: its error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _validation(message: str) -> Refusal:
    return Refusal("ValidationException", f"1 validation error detected: {message}")


def _tag_chars_ok(text: str) -> bool:
    return all(unicodedata.category(char)[0] in "LZN" or char in _TAG_SYMBOLS for char in text)


def check_tags(tags: Iterable[Mapping[str, Any]], field: str) -> dict[str, str]:
    """Each tag's key and value against AWS's length, character and reserved-prefix rules."""
    checked: dict[str, str] = {}
    for index, tag in enumerate(tags, start=1):
        key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
        where = f"'{field}.{index}.member"
        if not 1 <= len(key) <= TAG_KEY_CHARS:
            raise _validation(
                f"Value at {where}.key' failed to satisfy constraint: Member must have length less than or "
                f"equal to {TAG_KEY_CHARS}"
            )
        if len(value) > TAG_VALUE_CHARS:
            raise _validation(
                f"Value at {where}.value' failed to satisfy constraint: Member must have length less than "
                f"or equal to {TAG_VALUE_CHARS}"
            )
        if not _tag_chars_ok(key) or not _tag_chars_ok(value):
            raise _validation(
                f"Value at {where}' failed to satisfy constraint: Member must satisfy regular expression "
                f"pattern: {TAG_PATTERN}"
            )
        # "Do not use the aws: prefix in your tag names or values because AWS reserves it for AWS use"
        # (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html; the SSM
        # Tag.Key pattern starts with (?!^(?i)aws:)).
        if key.lower().startswith("aws:"):
            raise Refusal(
                "ValidationException", f"Tag keys starting with 'aws:' are reserved for AWS use: {key}"
            )
        checked[key] = value
    return checked


def _max_results(request: Mapping[str, Any], limit: int) -> None:
    value = request.get("MaxResults")
    if value is not None and int(value) > limit:
        raise _validation(
            f"Value '{value}' at 'maxResults' failed to satisfy constraint: Member must have value less than "
            f"or equal to {limit}"
        )


def _secret_bytes(request: Mapping[str, Any]) -> int:
    if "SecretString" in request:
        return len(str(request["SecretString"]).encode())
    if "SecretBinary" in request:
        try:
            return len(base64.b64decode(str(request["SecretBinary"])))
        except (binascii.Error, ValueError):
            return 0
    return 0


def _secret_size(request: Mapping[str, Any]) -> None:
    if _secret_bytes(request) > SECRET_VALUE_BYTES:
        field = "secretString" if "SecretString" in request else "secretBinary"
        # the value itself is never echoed: AWS leaves sensitive members out of validation messages
        raise _validation(
            f"Value at '{field}' failed to satisfy constraint: Member must have length less than or equal "
            f"to {SECRET_VALUE_BYTES}"
        )


class MotoState:
    """What the rules need to know about resources already stored, read from moto's backends."""

    def __init__(self, account_id: str, region: str) -> None:
        self.account_id = account_id
        self.region = region

    def secret(self, secret_id: str) -> Any:
        from moto.secretsmanager.models import secretsmanager_backends

        return secretsmanager_backends[self.account_id][self.region].secrets.get(secret_id)

    def secret_tags(self, secret_id: str) -> dict[str, str]:
        secret = self.secret(secret_id)
        return {tag["Key"]: tag["Value"] for tag in (getattr(secret, "tags", None) or [])}

    def parameter(self, name: str) -> Any:
        from moto.ssm.models import ssm_backends

        return ssm_backends[self.account_id][self.region].get_parameter(name)

    def parameter_tags(self, name: str) -> dict[str, str]:
        from moto.ssm.models import ssm_backends

        tags: Mapping[str, Mapping[str, str]] = ssm_backends[self.account_id][self.region]._resource_tags.get(
            "Parameter", {}
        )
        return dict(tags.get(name, {}))


def _user_tag_count(tags: Mapping[str, str]) -> int:
    return sum(1 for key in tags if not key.lower().startswith("aws:"))


def _too_many_secret_tags() -> Refusal:
    return _validation(
        f"Value at 'tags' failed to satisfy constraint: Member must have length less than or "
        f"equal to {MAX_TAGS}"
    )


def _too_many_parameter_tags() -> Refusal:
    # AddTagsToResource's documented error for this (API_AddTagsToResource.html#API_AddTagsToResource_Errors)
    return Refusal(
        "TooManyTagsError",
        "The Targets parameter includes too many tags. Remove one or more tags and try the command again.",
    )


def _create_secret(request: Mapping[str, Any], state: MotoState) -> None:
    _secret_size(request)
    tags = check_tags(request.get("Tags") or [], "tags")
    if _user_tag_count(tags) > MAX_TAGS:
        raise _too_many_secret_tags()
    existing = state.secret(str(request.get("Name", "")))
    # A deleted secret keeps its name for its recovery window
    # (https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_delete-secret.html); CreateSecret
    # then fails with InvalidRequestException (API_CreateSecret.html#API_CreateSecret_Errors).
    if existing is not None and existing.is_deleted():
        raise Refusal(
            "InvalidRequestException",
            "You can't create this secret because a secret with this name is already scheduled for deletion.",
        )


def _tag_secret(request: Mapping[str, Any], state: MotoState) -> None:
    tags = check_tags(request.get("Tags") or [], "tags")
    merged = {**state.secret_tags(str(request.get("SecretId", ""))), **tags}
    if _user_tag_count(merged) > MAX_TAGS:
        raise _too_many_secret_tags()


def _batch_get(request: Mapping[str, Any], state: MotoState) -> None:
    ids = request.get("SecretIdList") or []
    if len(ids) > BATCH_GET_MAX_SECRETS:
        raise _validation(
            f"Value at 'secretIdList' failed to satisfy constraint: Member must have length less than or "
            f"equal to {BATCH_GET_MAX_SECRETS}"
        )
    _max_results(request, BATCH_GET_MAX_SECRETS)


def _put_parameter(request: Mapping[str, Any], state: MotoState) -> None:
    name = str(request.get("Name", ""))
    existing = state.parameter(name) if request.get("Overwrite") else None
    current_tier = getattr(existing, "tier", None) or "Standard"
    asked = request.get("Tier")
    # "You can't revert an advanced parameter to a standard parameter"
    # (parameter-store-advanced-parameters.html)
    if asked == "Standard" and current_tier == "Advanced":
        raise Refusal(
            "ValidationException",
            "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
            "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the "
            "advanced parameter and recreate it as a standard parameter.",
        )
    length = len(str(request.get("Value", "")))
    if asked == "Intelligent-Tiering":  # picks Advanced when the value needs it (same page)
        tier = "Advanced" if length > PARAMETER_VALUE_CHARS["Standard"] else current_tier
    else:
        tier = asked or current_tier
    if tier == "Standard" and length > PARAMETER_VALUE_CHARS["Standard"]:
        raise Refusal(
            "ValidationException",
            "Standard tier parameters support a maximum parameter value of 4096 characters. To create a "
            "larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more "
            f"information, see {_ADVANCED_URL}",
        )
    if length > PARAMETER_VALUE_CHARS["Advanced"]:
        raise _validation(
            "Value at 'value' failed to satisfy constraint: Member must have length less than or equal to "
            f"{PARAMETER_VALUE_CHARS['Advanced']}"
        )
    tags = check_tags(request.get("Tags") or [], "tags")
    if _user_tag_count(tags) > MAX_TAGS:
        raise _too_many_parameter_tags()


def _tag_parameter(request: Mapping[str, Any], state: MotoState) -> None:
    tags = check_tags(request.get("Tags") or [], "tags")
    if request.get("ResourceType") == "Parameter":
        merged = {**state.parameter_tags(str(request.get("ResourceId", ""))), **tags}
        if _user_tag_count(merged) > MAX_TAGS:
            raise _too_many_parameter_tags()


Rule = Callable[[Mapping[str, Any], MotoState], None]
RULES: dict[str, Rule] = {
    "secretsmanager.CreateSecret": _create_secret,
    "secretsmanager.PutSecretValue": lambda request, state: _secret_size(request),
    "secretsmanager.UpdateSecret": lambda request, state: _secret_size(request),
    "secretsmanager.TagResource": _tag_secret,
    "secretsmanager.ListSecrets": lambda request, state: _max_results(request, LIST_SECRETS_MAX_RESULTS),
    "secretsmanager.BatchGetSecretValue": _batch_get,
    "AmazonSSM.PutParameter": _put_parameter,
    "AmazonSSM.AddTagsToResource": _tag_parameter,
    "AmazonSSM.DescribeParameters": lambda request, state: _max_results(
        request, DESCRIBE_PARAMETERS_MAX_RESULTS
    ),
}


class Throttle:
    """Sustained throttling: until a deadline, every request (or those of some operations) is refused."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self._operations: frozenset[str] = frozenset()

    def set(self, seconds: float, operations: Iterable[str] = ()) -> None:
        with self._lock:
            self._until = time.monotonic() + max(0.0, seconds)
            self._operations = frozenset(operations)

    def applies(self, operation: str) -> bool:
        with self._lock:
            if time.monotonic() >= self._until:
                return False
            return not self._operations or operation in self._operations


class ValidatingFront:
    """WSGI middleware in front of moto's application."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.throttle = Throttle()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/front/throttle":
            settings = json.loads(self._body(environ) or b"{}")
            self.throttle.set(float(settings.get("seconds", 0)), settings.get("operations") or ())
            return self._answer(start_response, "200 OK", {})
        if path == "/moto-api/reset":
            self.throttle.set(0)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        rule = RULES.get(target)
        operation = target.rpartition(".")[2]
        if target and self.throttle.applies(operation):
            # Throttled requests get HTTP 400 ThrottlingException "Rate exceeded"
            # (https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html)
            return self._refuse(start_response, Refusal("ThrottlingException", "Rate exceeded"))
        if rule is None:
            return self.app(environ, start_response)
        body = self._body(environ)
        try:
            request = json.loads(body or b"{}")
            auth = environ.get("HTTP_AUTHORIZATION", "")
            rule(request, MotoState(_account(auth), _region(auth)))
        except Refusal as refusal:
            return self._refuse(start_response, refusal)
        return self.app(environ, start_response)

    @staticmethod
    def _body(environ: dict[str, Any]) -> bytes:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        return bytes(body)

    @staticmethod
    def _refuse(start_response: Callable[..., Any], refusal: Refusal) -> list[bytes]:
        body = {"__type": refusal.code, "message": refusal.message}
        return ValidatingFront._answer(start_response, "400 Bad Request", body, refusal.code)

    @staticmethod
    def _answer(
        start_response: Callable[..., Any], status: str, body: Mapping[str, Any], error: str = ""
    ) -> list[bytes]:
        data = json.dumps(body).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))]
        if error:
            headers.append(("x-amzn-ErrorType", error))
        start_response(status, headers)
        return [data]


def _region(authorization: str) -> str:
    match = _REGION.search(authorization)
    return match.group(1) if match else "us-east-1"


def _account(authorization: str) -> str:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import get_account_id_from

    match = _ACCESS_KEY.search(authorization)
    return get_account_id_from(match.group(1)) if match else DEFAULT_ACCOUNT_ID


def main(argv: list[str] | None = None) -> None:
    """Serve moto behind the front until SIGTERM/SIGINT."""
    from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    parser = argparse.ArgumentParser(prog="python -m airflow_secret_sync.testing.aws_front")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # moto writes its own URLs with it
    app = ValidatingFront(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
