"""``python -m airflow_secret_sync.testing.gcp``: serve the emulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from airflow_secret_sync.testing.gcp.rest import SecretManagerEmulator
from airflow_secret_sync.testing.gcp.storage import MAX_PAGE_SIZE

DEFAULT_PORT = 8086


def _project_number(text: str) -> tuple[str, str]:
    project, sep, number = text.partition("=")
    if not sep or not project or not number.isdigit():
        raise argparse.ArgumentTypeError("expected PROJECT_ID=PROJECT_NUMBER, e.g. my-project=123456789012")
    return project, number


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_secret_sync.testing.gcp",
        description="Offline Google Cloud Secret Manager v1 emulator (REST, optional gRPC).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"HTTP port; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--grpc-port", type=int, default=None, help="also serve gRPC on this port (0 = free port)"
    )
    parser.add_argument(
        "--project-number",
        action="append",
        type=_project_number,
        default=[],
        metavar="ID=NUMBER",
        help="answer with projects/NUMBER in resource names for this project id, as Google does",
    )
    parser.add_argument(
        "--default-page-size",
        type=int,
        default=MAX_PAGE_SIZE,
        help="page size used when a list request sends pageSize=0",
    )
    parser.add_argument("--log-requests", action="store_true", help="log method, path and status to stderr")
    args = parser.parse_args(argv)

    emulator = SecretManagerEmulator(
        args.host,
        args.port,
        log_requests=args.log_requests,
        project_numbers=dict(args.project_number),
        default_page_size=args.default_page_size,
        grpc_port=args.grpc_port,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    print(f"listening on {emulator.start()}", flush=True)
    if emulator.grpc_port is not None:
        print(f"grpc listening on {emulator.grpc_target}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
