"""The test suite itself refuses to reach beyond loopback."""

from __future__ import annotations

import socket

import pytest


def test_connecting_outside_loopback_is_refused() -> None:
    """A socket to a documentation address fails at once inside the test run."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(OSError, match="only connect to loopback"),
    ):
        sock.connect(("192.0.2.1", 443))


def test_loopback_connections_still_work() -> None:
    """Loopback stays usable for the simulator served over HTTP."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            assert client.getpeername() == server.getsockname()
