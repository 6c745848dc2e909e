"""In-process httpx transports that hand requests straight to a simulator.

:class:`SimulatorTransport` (sync) and :class:`AsyncSimulatorTransport`
(asyncio) skip sockets entirely, which keeps test suites fast, and still
reproduce connection-level faults: a dropped connection raises
``httpx.RemoteProtocolError`` as a real socket would, and a cut-off body
arrives short.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx

from crm_ews.testing._response import Disconnect, SimulatedResponse

if TYPE_CHECKING:
    from crm_ews.testing._simulator import ExchangeSimulator


class SimulatedDisconnect(httpx.RemoteProtocolError):
    """The simulator closed the connection without answering."""


def wsgi_request(environ: dict[str, object]) -> tuple[str, str, dict[str, str], bytes]:
    """Method, path, headers and body of a WSGI request."""
    method = str(environ.get("REQUEST_METHOD", "GET"))
    path = str(environ.get("PATH_INFO", "") or "/")
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = str(value)
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    try:
        length = int(headers.get("content-length", "0") or "0")
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    body = b""
    if length > 0 and stream is not None and hasattr(stream, "read"):
        data = stream.read(length)
        body = data if isinstance(data, bytes) else b""
    return method, path, headers, body


def _to_httpx(request: httpx.Request, response: SimulatedResponse) -> httpx.Response:
    if response.disconnect is Disconnect.BEFORE_RESPONSE:
        raise SimulatedDisconnect(
            "Server disconnected without sending a response.", request=request
        )
    return httpx.Response(
        response.status,
        headers=list(response.headers),
        content=response.sent_body,
        request=request,
    )


class SimulatorTransport(httpx.BaseTransport):
    """An ``httpx`` transport that calls the simulator in the same thread.

    Args:
        simulator: The simulator to answer requests.
    """

    def __init__(self, simulator: ExchangeSimulator) -> None:
        self._simulator = simulator

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the simulator."""
        body = request.read()
        response = self._simulator.handle(
            request.method, request.url.path, dict(request.headers), body
        )
        return _to_httpx(request, response)


class AsyncSimulatorTransport(httpx.AsyncBaseTransport):
    """An asyncio ``httpx`` transport for the simulator.

    Args:
        simulator: The simulator to answer requests.
        threaded: Run each request in a worker thread (the default), so
            injected latency and lock waits never block the event loop and
            concurrent requests overlap as on a real server.  ``False`` calls
            the simulator inline, which is faster for plain tests.
    """

    def __init__(self, simulator: ExchangeSimulator, *, threaded: bool = True) -> None:
        self._simulator = simulator
        self._threaded = threaded

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``request`` from the simulator."""
        body = await request.aread()
        args = (request.method, request.url.path, dict(request.headers), body)
        if self._threaded:
            response = await asyncio.to_thread(self._simulator.handle, *args)
        else:
            response = self._simulator.handle(*args)
        return _to_httpx(request, response)
