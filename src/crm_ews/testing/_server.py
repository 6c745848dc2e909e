"""Serving a simulator over real HTTP on a loopback address.

A threaded stdlib HTTP/1.1 server with keep-alive: every connection gets its
own thread, so concurrent clients (and throttling) behave as against a real
server.  Connection-level faults are real here: a dropped call closes the
socket unanswered, a truncated one sends half the body and closes.
"""

from __future__ import annotations

import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final

from crm_ews.testing._response import Disconnect
from crm_ews.testing._simulator import EWS_PATH, MAX_REQUEST_BYTES, ExchangeSimulator

logger = logging.getLogger(__name__)

#: Seconds an idle keep-alive connection stays open.
_IDLE_TIMEOUT: Final = 60.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], simulator: ExchangeSimulator) -> None:
        self.simulator = simulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(
        self,
        request: socket.socket | tuple[bytes, socket.socket],
        client_address: Any,
    ) -> None:
        if isinstance(request, socket.socket):
            with self.connections_lock:
                self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(
        self, request: socket.socket | tuple[bytes, socket.socket]
    ) -> None:
        if isinstance(request, socket.socket):
            with self.connections_lock:
                self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_connections = list(self.connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                continue


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""
    timeout = _IDLE_TIMEOUT
    # The headers and the body leave in two writes; with Nagle's algorithm
    # the body would wait for the client's delayed ACK of the headers (about
    # 40 ms on Linux), a stall per response that Exchange does not have.
    disable_nagle_algorithm = True
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("simulator http: " + format, *args)  # noqa: G003 -- stdlib format string

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            return None
        if length < 0 or length > MAX_REQUEST_BYTES:
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                return None
            if size == 0:
                self.rfile.readline(1024)
                return b"".join(parts)
            total += size
            if total > MAX_REQUEST_BYTES:
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            self.send_error(400, "Bad Request")
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        headers = dict(self.headers.items())
        response = self.server.simulator.handle(self.command, path, headers, body)

        if response.disconnect is Disconnect.BEFORE_RESPONSE:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status, response.reason)
        for name, value in response.headers:
            self.send_header(name, value)
        payload = response.sent_body
        if response.disconnect is Disconnect.MID_BODY:
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


class SimulatorServer:
    """Serve an :class:`ExchangeSimulator` at ``http://HOST:PORT/EWS/Exchange.asmx``.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    Args:
        simulator: The simulator to serve.
        host: The address to bind; loopback by default.
        port: The port; 0 picks a free one.
    """

    def __init__(
        self, simulator: ExchangeSimulator, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.simulator = simulator
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            RuntimeError: The server is not running.
        """
        if self._server is None:
            raise RuntimeError("the simulator server is not running")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The EWS endpoint URL."""
        return f"http://{self._address[0]}:{self.port}{EWS_PATH}"

    def start(self) -> SimulatorServer:
        """Bind and serve in a background thread.

        Raises:
            RuntimeError: Already started.
            OSError: The address cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("the simulator server is already running")
        self._server = _Server(self._address, self.simulator)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="crm-ews-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and release the port."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
