"""A TCP port that accepts connections and never answers: a provider call to it hangs until its timeout."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def silent_server() -> Iterator[str]:
    """``host:port`` of a listening socket nobody reads from: the kernel completes each TCP handshake, the
    request is sent, and no answer ever comes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()
