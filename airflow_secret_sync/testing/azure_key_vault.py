"""A small offline Azure Key Vault (secrets only) speaking the REST API that ``azure-keyvault-secrets`` uses.

HTTPS on a loopback port with a certificate signed by a throwaway CA (export :attr:`ca_file` to verify TLS),
the Key Vault authentication challenge (``401`` + ``WWW-Authenticate: Bearer ...``), and an IMDS-like
managed-identity token endpoint on a second, plain-HTTP port. It keeps one vault in memory and follows the
documented rules: case-insensitive names ``^[0-9a-zA-Z-]{1,127}$``, 25 KiB values, at most 15 tags, a new
32-hex version per ``PUT``, soft delete with recovery and purge (refused under purge protection), ``409``
``ObjectIsDeletedButRecoverable`` when a soft-deleted name is written, ``403 SecretDisabled`` when a disabled
version is read, paging with ``nextLink``. Faults (throttling, server errors, denied callers) are injected
with :meth:`KeyVaultEmulator.fail_next` and :attr:`KeyVaultEmulator.denied_tokens`.

It stands in for Lowkey Vault (see :mod:`.lowkey_vault`) where that jar cannot be had; the differences from
the real service are listed in docs/providers/azure-key-vault.md.
"""

from __future__ import annotations

import datetime
import json
import re
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
VALUE_LIMIT_BYTES = 25 * 1024
TAG_LIMIT = 15
TAG_KEY_LIMIT = 512
TAG_VALUE_LIMIT = 256
DEFAULT_PAGE = 25
RESOURCE = "https://vault.azure.net"
TENANT = "00000000-0000-0000-0000-000000000000"
RECOVERABLE_PURGEABLE = "Recoverable+Purgeable"
RECOVERABLE = "Recoverable"
"""Purge protection on: a purge is refused."""


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str, inner: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.inner = status, code, message, inner

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


@dataclass
class _Version:
    id: str
    value: str
    content_type: str | None
    tags: dict[str, str] | None
    enabled: bool
    not_before: int | None
    expires: int | None
    created: int
    updated: int


@dataclass
class _Secret:
    name: str  # as first written: names are case-insensitive
    versions: list[_Version] = field(default_factory=list)  # oldest first
    deleted_on: int | None = None

    @property
    def latest(self) -> _Version:
        return self.versions[-1]


def _now() -> int:
    return int(time.time())


class KeyVaultEmulator:
    """One in-memory vault on ``https://127.0.0.1:<port>``; use as a context manager or start()/stop()."""

    def __init__(self, recovery_level: str = RECOVERABLE_PURGEABLE, recoverable_days: int = 90) -> None:
        self.recovery_level = recovery_level
        self.recoverable_days = recoverable_days
        self.denied_tokens: set[str] = set()
        """Bearer tokens answered with 403 ForbiddenByRbac (a caller without the role)."""
        self.requests: list[tuple[str, str]] = []
        """``(method, path)`` of every authenticated request, for counting calls."""
        self._secrets: dict[str, _Secret] = {}
        self._faults: list[tuple[int, float | None]] = []
        self._lock = threading.RLock()
        self._home = Path(tempfile.mkdtemp(prefix="key-vault-emulator-"))
        self.ca_file = self._home / "ca.pem"
        self._vault: ThreadingHTTPServer | None = None
        self._identity: ThreadingHTTPServer | None = None

    # ----------------------------------------------------------------------------------------- lifecycle

    @property
    def vault_url(self) -> str:
        assert self._vault is not None, "not started"
        return f"https://127.0.0.1:{self._vault.server_port}"

    @property
    def imds_host(self) -> str:
        """What ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` must say for azure-identity's IMDS credential."""
        assert self._identity is not None, "not started"
        return f"http://127.0.0.1:{self._identity.server_port}"

    def start(self) -> KeyVaultEmulator:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*_certificates(self._home, self.ca_file))
        self._vault = _Server(("127.0.0.1", 0), _VaultHandler, self)
        self._vault.socket = context.wrap_socket(self._vault.socket, server_side=True)
        self._identity = _Server(("127.0.0.1", 0), _IdentityHandler, self)
        for server in (self._vault, self._identity):
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        for server in (self._vault, self._identity):
            if server is not None:
                server.shutdown()
                server.server_close()

    def __enter__(self) -> KeyVaultEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self, recovery_level: str = RECOVERABLE_PURGEABLE, recoverable_days: int = 90) -> None:
        """Forget every secret (deleted ones too), fault and denied token; set the recovery level."""
        with self._lock:
            self._secrets.clear()
            self._faults.clear()
            self.denied_tokens.clear()
            self.requests.clear()
            self.recovery_level, self.recoverable_days = recovery_level, recoverable_days

    def fail_next(self, status: int, count: int = 1, retry_after: float | None = None) -> None:
        """Answer the next ``count`` authenticated requests with ``status`` (and ``Retry-After``)."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * count)

    # ----------------------------------------------------------------------------------------- model

    def _live(self, name: str) -> _Secret:
        secret = self._secrets.get(name.lower())
        if secret is None or secret.deleted_on is not None:
            raise _Error(
                404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault."
            )
        return secret

    def _deleted(self, name: str) -> _Secret:
        secret = self._secrets.get(name.lower())
        if secret is None or secret.deleted_on is None:
            raise _Error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        return secret

    def _version(self, secret: _Secret, version: str) -> _Version:
        if not version:
            return secret.latest
        for candidate in secret.versions:
            if candidate.id == version:
                return candidate
        raise _Error(404, "SecretNotFound", f"A secret with (name/id) {secret.name}/{version} was not found.")

    def _attributes(self, version: _Version) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "enabled": version.enabled,
            "created": version.created,
            "updated": version.updated,
            "recoveryLevel": self.recovery_level,
            "recoverableDays": self.recoverable_days,
        }
        if version.not_before is not None:
            attributes["nbf"] = version.not_before
        if version.expires is not None:
            attributes["exp"] = version.expires
        return attributes

    def _bundle(
        self, secret: _Secret, version: _Version, *, value: bool, versioned: bool = True
    ) -> dict[str, Any]:
        path = f"{self.vault_url}/secrets/{secret.name}" + (f"/{version.id}" if versioned else "")
        bundle: dict[str, Any] = {"id": path, "attributes": self._attributes(version)}
        if value:
            bundle["value"] = version.value
        if version.content_type is not None:
            bundle["contentType"] = version.content_type
        if version.tags is not None:
            bundle["tags"] = dict(version.tags)
        return bundle

    def _deleted_bundle(self, secret: _Secret) -> dict[str, Any]:
        assert secret.deleted_on is not None
        bundle = self._bundle(secret, secret.latest, value=False)
        bundle.update(
            recoveryId=f"{self.vault_url}/deletedsecrets/{secret.name}",
            deletedDate=secret.deleted_on,
            scheduledPurgeDate=secret.deleted_on + self.recoverable_days * 86400,
        )
        return bundle

    # ----------------------------------------------------------------------------------------- operations

    def set_secret(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        _check_name(name)
        value = body.get("value")
        if not isinstance(value, str):
            raise _Error(400, "BadParameter", "Property value is required.")
        if len(value.encode()) > VALUE_LIMIT_BYTES:
            raise _Error(
                400, "BadParameter", f"Secret value exceeds the maximum of {VALUE_LIMIT_BYTES} bytes."
            )
        tags = body.get("tags")
        _check_tags(tags)
        attributes = body.get("attributes") or {}
        existing = self._secrets.get(name.lower())
        if existing is not None and existing.deleted_on is not None:
            raise _Error(
                409,
                "Conflict",
                f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
                "reused; in this state, the secret can only be recovered or purged.",
                "ObjectIsDeletedButRecoverable",
            )
        now = _now()
        version = _Version(
            id=uuid.uuid4().hex,
            value=value,
            content_type=body.get("contentType"),
            tags=dict(tags) if tags is not None else None,
            enabled=attributes.get("enabled", True) is not False,
            not_before=attributes.get("nbf"),
            expires=attributes.get("exp"),
            created=now,
            updated=now,
        )
        secret = existing or self._secrets.setdefault(name.lower(), _Secret(name=name))
        secret.versions.append(version)
        return self._bundle(secret, version, value=True)

    def get_secret(self, name: str, version_id: str) -> dict[str, Any]:
        secret = self._live(name)
        version = self._version(secret, version_id)
        if not version.enabled:
            raise _Error(
                403, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled"
            )
        return self._bundle(secret, version, value=True)

    def update_secret(self, name: str, version_id: str, body: dict[str, Any]) -> dict[str, Any]:
        secret = self._live(name)
        version = self._version(secret, version_id)
        if "tags" in body:
            _check_tags(body["tags"])
            version.tags = dict(body["tags"]) if body["tags"] is not None else None
        if "contentType" in body:
            version.content_type = body["contentType"]
        attributes = body.get("attributes") or {}
        if "enabled" in attributes:
            version.enabled = bool(attributes["enabled"])
        if "nbf" in attributes:
            version.not_before = attributes["nbf"]
        if "exp" in attributes:
            version.expires = attributes["exp"]
        version.updated = _now()
        return self._bundle(secret, version, value=False)

    def list_secrets(self) -> list[dict[str, Any]]:
        return [
            self._bundle(secret, secret.latest, value=False, versioned=False)
            for secret in sorted(self._secrets.values(), key=lambda s: s.name.lower())
            if secret.deleted_on is None
        ]

    def list_versions(self, name: str) -> list[dict[str, Any]]:
        secret = self._live(name)
        return [self._bundle(secret, version, value=False) for version in secret.versions]

    def delete_secret(self, name: str) -> dict[str, Any]:
        secret = self._live(name)
        secret.deleted_on = _now()
        return self._deleted_bundle(secret)

    def get_deleted(self, name: str) -> dict[str, Any]:
        return self._deleted_bundle(self._deleted(name))

    def list_deleted(self) -> list[dict[str, Any]]:
        return [self._deleted_bundle(s) for s in self._secrets.values() if s.deleted_on is not None]

    def purge(self, name: str) -> None:
        secret = self._deleted(name)
        if "Purgeable" not in self.recovery_level:
            raise _Error(
                403,
                "Forbidden",
                f'Operation "purge" on {name} is not allowed because purge protection is enabled. '
                "Key Vault service will automatically purge it after the retention period has passed.",
            )
        del self._secrets[secret.name.lower()]

    def recover(self, name: str) -> dict[str, Any]:
        secret = self._deleted(name)
        secret.deleted_on = None
        return self._bundle(secret, secret.latest, value=False)

    def take_fault(self) -> tuple[int, float | None] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None


def _check_name(name: str) -> None:
    if not NAME.match(name):
        raise _Error(400, "BadParameter", f"The request URI contains an invalid name: {name}")


def _check_tags(tags: Any) -> None:
    if tags is None:
        return
    if not isinstance(tags, dict) or len(tags) > TAG_LIMIT:
        raise _Error(400, "BadParameter", f"A secret may have at most {TAG_LIMIT} tags.")
    for key, text in tags.items():
        if len(key) > TAG_KEY_LIMIT or not isinstance(text, str) or len(text) > TAG_VALUE_LIMIT:
            raise _Error(
                400,
                "BadParameter",
                f"Tag names have at most {TAG_KEY_LIMIT} and values {TAG_VALUE_LIMIT} characters.",
            )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], vault: KeyVaultEmulator
    ):
        super().__init__(address, handler)
        self.vault = vault


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, text in (headers or {}).items():
            self.send_header(name, text)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


class _IdentityHandler(_Handler):
    """``GET /metadata/identity/oauth2/token?resource=...``: a managed identity's token, IMDS-style."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path != "/metadata/identity/oauth2/token" or "resource" not in query:
            self._send(400, {"error": "invalid_request", "error_description": "resource is required"})
            return
        expires = _now() + 3600
        self._send(
            200,
            {
                "access_token": f"emulated-managed-identity-{uuid.uuid4().hex}",
                "expires_in": "3600",
                "expires_on": str(expires),
                "not_before": str(_now()),
                "resource": query["resource"][0],
                "token_type": "Bearer",
            },
        )


_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("GET", re.compile(r"^/secrets/?$"), "list"),
    ("GET", re.compile(r"^/secrets/([^/]+)/versions/?$"), "versions"),
    ("GET", re.compile(r"^/secrets/([^/]+)(?:/([^/]*))?/?$"), "get"),
    ("PUT", re.compile(r"^/secrets/([^/]+)/?$"), "set"),
    ("PATCH", re.compile(r"^/secrets/([^/]+)(?:/([^/]*))?/?$"), "update"),
    ("DELETE", re.compile(r"^/secrets/([^/]+)/?$"), "delete"),
    ("GET", re.compile(r"^/deletedsecrets/?$"), "list_deleted"),
    ("GET", re.compile(r"^/deletedsecrets/([^/]+)/?$"), "get_deleted"),
    ("DELETE", re.compile(r"^/deletedsecrets/([^/]+)/?$"), "purge"),
    ("POST", re.compile(r"^/deletedsecrets/([^/]+)/recover/?$"), "recover"),
]


class _VaultHandler(_Handler):
    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        vault = self.server.vault
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if not token:
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="{RESOURCE}"'
            )
            self._send(
                401,
                {
                    "error": {
                        "code": "Unauthorized",
                        "message": "AKV10000: Request is missing a Bearer or PoP token.",
                    }
                },
                {"WWW-Authenticate": challenge},
            )
            return
        url = urlsplit(self.path)
        with vault._lock:
            vault.requests.append((method, url.path))
            fault = vault.take_fault()
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
            code = "Throttled" if status == 429 else "InternalServerError"
            self._send(status, {"error": {"code": code, "message": f"Injected fault {status}"}}, headers)
            return
        if token in vault.denied_tokens:
            self._send(
                403,
                _Error(
                    403,
                    "Forbidden",
                    "Caller is not authorized to perform action on resource.",
                    "ForbiddenByRbac",
                ).body(),
            )
            return
        try:
            body = json.loads(raw) if raw else {}
            status, answer = self._dispatch(vault, method, url.path, parse_qs(url.query), body)
        except _Error as err:
            self._send(err.status, err.body())
            return
        except ValueError:
            self._send(400, _Error(400, "BadParameter", "The request body is not valid JSON.").body())
            return
        self._send(status, answer)

    def _dispatch(
        self,
        vault: KeyVaultEmulator,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: dict[str, Any],
    ) -> tuple[int, Any]:
        for route_method, pattern, action in _ROUTES:
            match = pattern.match(path)
            if route_method != method or not match:
                continue
            name, version = unquote(match.group(1) or "") if match.groups() else "", ""
            if match.lastindex and match.lastindex >= 2:
                version = unquote(match.group(2) or "")
            with vault._lock:
                if action == "list":
                    return 200, self._page(vault, "secrets", vault.list_secrets(), query)
                if action == "versions":
                    return 200, self._page(
                        vault, f"secrets/{name}/versions", vault.list_versions(name), query
                    )
                if action == "get":
                    return 200, vault.get_secret(name, version)
                if action == "set":
                    return 200, vault.set_secret(name, body)
                if action == "update":
                    return 200, vault.update_secret(name, version, body)
                if action == "delete":
                    return 200, vault.delete_secret(name)
                if action == "list_deleted":
                    return 200, self._page(vault, "deletedsecrets", vault.list_deleted(), query)
                if action == "get_deleted":
                    return 200, vault.get_deleted(name)
                if action == "purge":
                    vault.purge(name)
                    return 204, None
                return 200, vault.recover(name)
        raise _Error(404, "NotFound", f"No route for {method} {path}")

    @staticmethod
    def _page(
        vault: KeyVaultEmulator, path: str, items: list[dict[str, Any]], query: dict[str, list[str]]
    ) -> Any:
        size = min(int((query.get("maxresults") or [str(DEFAULT_PAGE)])[0]), DEFAULT_PAGE)
        start = int((query.get("$skiptoken") or ["0"])[0])
        page = items[start : start + size]
        following = None
        if start + size < len(items):
            api = (query.get("api-version") or ["7.6"])[0]
            following = (
                f"{vault.vault_url}/{path}?api-version={api}&$skiptoken={start + size}&maxresults={size}"
            )
        return {"value": page, "nextLink": following}


def _certificates(home: Path, ca_file: Path) -> tuple[str, str]:
    """A throwaway CA (written to ``ca_file``) and a server certificate for 127.0.0.1 and localhost."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "key-vault-emulator test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = home / "server.pem", home / "server-key.pem"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


@contextmanager
def running(**options: Any) -> Iterator[KeyVaultEmulator]:
    """A started emulator, stopped on exit."""
    emulator = KeyVaultEmulator(**options).start()
    try:
        yield emulator
    finally:
        emulator.stop()
