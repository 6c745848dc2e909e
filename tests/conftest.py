"""Shared fixtures: the EWS schema (when CRM_EWS_SCHEMA_DIR names it)."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree


@pytest.fixture(scope="session")
def ews_schema() -> etree.XMLSchema:
    """Microsoft's EWS schema, compiled once; skips visibly when unset."""
    folder = os.environ.get("CRM_EWS_SCHEMA_DIR")
    if not folder:
        pytest.skip("CRM_EWS_SCHEMA_DIR is not set: schema validation skipped")
    path = Path(folder) / "messages.xsd"
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(path), parser))


def _is_loopback(address: object) -> bool:
    if not isinstance(address, tuple) or not address:
        return True  # AF_UNIX paths and the like stay on this machine
    host = str(address[0])
    if host in ("localhost", "::1") or host.startswith("127."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    """Tests may open sockets to loopback only; anything else is a test bug."""
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def connect(self: socket.socket, address: Any) -> None:
        if not _is_loopback(address):
            raise OSError(f"tests may only connect to loopback, not {address!r}")
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not _is_loopback(address):
            raise OSError(f"tests may only connect to loopback, not {address!r}")
        return original_connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = original_connect_ex  # type: ignore[method-assign]
