"""A whole sync at DEBUG, every logger captured: no credential, cookie or body.

The simulator sits behind a small loopback WSGI front door that plays the
parts a real deployment adds: an OAuth token endpoint, a ``Bearer`` check
that it turns into the simulator's own login, and a ``Set-Cookie`` on every
answer (Exchange's ``X-BackEndCookie``).  Two syncs run over real sockets,
one with Basic and one with OAuth, with creates, edits, deletes and injected
faults, while the root logger records everything at DEBUG: crm_ews and its
wire log, httpx, httpcore, asyncio.  Nothing any record holds (message,
arguments, extras, traceback) may contain a password, client secret, access
token, ``Authorization`` or ``Set-Cookie`` value, or an item body; nor may
the reprs and messages of the objects and errors involved.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from crm_ews._transport import AsyncTransport
from crm_ews.auth import BasicAuth, OAuth2ClientCredentials
from crm_ews.backends import EWSMailboxBackend
from crm_ews.errors import AuthenticationError
from crm_ews.ews import (
    AsyncEWSClient,
    DistinguishedFolderId,
    DistinguishedFolderName,
)
from crm_ews.repository import Contact, EntityType, Task
from crm_ews.sync import MemoryStateStore, RunReport, SyncRunner
from crm_ews.testing import ExchangeSimulator, FaultKind, task
from tests.reliability import _support as s

pytestmark = pytest.mark.network

CLIENT_SECRET = "Client-Secret-4f1a9e"
ACCESS_TOKEN = "eyJhbGciOi.access-token-77c2.SIGNATURE"
COOKIE_VALUE = "backend-affinity-5d3e8b"
WRONG_PASSWORD = "Wrong-Password-0b9c"
BODIES = (
    "Diagnosis notes: body-marker-contact-91",
    "Salary talk agenda: body-marker-task-92",
    "Exchange-side body: body-marker-item-93",
    "Edited body: body-marker-edit-94",
)
MAILBOXES = (s.ALICE, "bob@example.com")
CONTACTS = DistinguishedFolderId(id=DistinguishedFolderName.CONTACTS)


def forbidden() -> list[str]:
    """Every form a secret or a body could take in a log line."""
    basic = base64.b64encode(f"{s.SVC}:{s.PASSWORD}".encode()).decode()
    wrong = base64.b64encode(f"{s.SVC}:{WRONG_PASSWORD}".encode()).decode()
    return [
        s.PASSWORD,
        WRONG_PASSWORD,
        basic,
        wrong,
        CLIENT_SECRET,
        ACCESS_TOKEN,
        COOKIE_VALUE,
        *BODIES,
        # The markers alone, in case a body is cut or re-encoded.
        *(body.rsplit(": ", 1)[1] for body in BODIES),
    ]


class FrontDoor:
    """Token endpoint, Bearer check and Set-Cookie in front of the simulator."""

    def __init__(self, simulator: ExchangeSimulator) -> None:
        self.simulator = simulator
        self.counts: Counter[str] = Counter()
        basic = base64.b64encode(f"{s.SVC}:{s.PASSWORD}".encode()).decode()
        self._basic = f"Basic {basic}"

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/token":
            self.counts["token"] += 1
            length = int(environ.get("CONTENT_LENGTH") or 0)
            form = environ["wsgi.input"].read(length).decode()
            if CLIENT_SECRET not in form:
                start_response("401 Unauthorized", [])
                return [b'{"error": "invalid_client"}']
            answer = {
                "token_type": "Bearer",
                "expires_in": 3600,
                "access_token": ACCESS_TOKEN,
            }
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(answer).encode()]

        if environ.get("HTTP_AUTHORIZATION") == f"Bearer {ACCESS_TOKEN}":
            self.counts["bearer"] += 1
            environ["HTTP_AUTHORIZATION"] = self._basic

        def with_cookie(status: str, headers: list[tuple[str, str]]) -> Any:
            self.counts["set_cookie"] += 1
            cookie = f"X-BackEndCookie={COOKIE_VALUE}; path=/EWS; HttpOnly"
            return start_response(status, [*headers, ("Set-Cookie", cookie)])

        return self.simulator(environ, with_cookie)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""


@pytest.fixture
def front_door() -> Iterator[tuple[FrontDoor, str]]:
    """The simulator behind the front door on 127.0.0.1; yields the base URL."""
    door = FrontDoor(s.simulator(MAILBOXES, seed=5))
    server = make_server(
        "127.0.0.1",
        0,
        door,
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield door, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def everything(records: Iterable[logging.LogRecord]) -> str:
    """All a handler could print: message, args, extras and traceback."""
    formatter = logging.Formatter()
    parts = []
    for record in records:
        parts.append(record.getMessage())
        parts.append(repr(vars(record)))
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
    return "\n".join(parts)


def leaks(text: str) -> list[str]:
    """The forbidden strings found in ``text``, shortened for the message."""
    return [secret[:8] + "..." for secret in forbidden() if secret in text]


class World:
    """Two mailboxes with bodies on both sides, and how to sync them."""

    def __init__(self, door: FrontDoor, base: str) -> None:
        self.door = door
        self.sim = door.simulator
        self.url = f"{base}/EWS/Exchange.asmx"
        self.token_url = f"{base}/token"
        self.crm = s.memory_crm()
        self.store = MemoryStateStore()
        self.sleep = s.FakeSleep()
        self.shown: list[str] = []
        for n, mailbox in enumerate(MAILBOXES):
            self.crm[EntityType.CONTACT].create(
                mailbox,
                s.new_record(EntityType.CONTACT, n).model_copy(
                    update={"notes": BODIES[0]}
                ),
                idempotency_key=f"logs-c{n}",
            )
            self.crm[EntityType.TASK].create(
                mailbox,
                Task(subject=f"T{n}", body=BODIES[1]),
                idempotency_key=f"logs-t{n}",
            )
            self.sim.add_item(mailbox, task(f"T{100 + n}", body=BODIES[2]))

    def transport(self, auth: Any) -> AsyncTransport:
        return AsyncTransport(
            self.url, auth=auth, sleep=self.sleep, retry=s.fast_retry(attempts=5)
        )

    async def _run(self, auth: Any) -> RunReport:
        transport = self.transport(auth)
        async with transport, AsyncEWSClient(transport=transport) as client:
            backend = EWSMailboxBackend(client, page_size=2)
            engine = s.make_engine(backend, self.crm, self.store, MAILBOXES)
            runner = SyncRunner(engine, concurrency=2, sleep=self.sleep)
            report = await runner.run(MAILBOXES)
            self.shown += [repr(x) for x in (transport, client, auth, backend)]
            self.shown += [repr(engine), repr(runner), repr(report), str(report)]
        return report

    def sync(self, auth: Any) -> RunReport:
        return s.run(self._run(auth))

    def edit_both_sides(self) -> None:
        """Bodies change on both sides; one item goes on each side."""
        for mailbox in MAILBOXES:
            contacts = self.crm[EntityType.CONTACT]
            record = contacts.records(mailbox)[0]
            contacts.update(
                mailbox,
                record.model_copy(update={"notes": BODIES[3]}),
                expected_version=record.version,
            )
            item = s.exchange_truth(self.sim, mailbox, EntityType.TASK)[0].item
            self.sim.modify_item(mailbox, item.item_id, Body=BODIES[3])
            self.sim.schedule_fault(FaultKind.HTTP_503, mailbox=mailbox)
            self.sim.schedule_fault(FaultKind.SERVER_BUSY, mailbox=mailbox)
            self.sim.schedule_fault(FaultKind.TRUNCATE, mailbox=mailbox)


def test_whole_sync_at_debug_logs_no_secret_cookie_or_body(
    front_door: tuple[FrontDoor, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Basic and OAuth syncs with faults: every logger at DEBUG stays clean."""
    caplog.set_level(logging.DEBUG)
    door, base = front_door
    world = World(door, base)

    first = world.sync(BasicAuth(s.SVC, s.PASSWORD))
    world.edit_both_sides()
    oauth = OAuth2ClientCredentials(world.token_url, "app-id", CLIENT_SECRET)
    second = world.sync(oauth)
    third = world.sync(oauth)

    # The run really carried what must not leak, over real sockets.
    assert first.failed == []
    assert second.failed == []
    assert third.failed == []
    assert door.counts["token"] == 1
    assert door.counts["bearer"] > 0
    assert door.counts["set_cookie"] > 0
    for mailbox in MAILBOXES:
        sides = s.read_sides(
            world.sim, world.crm[EntityType.CONTACT], mailbox, EntityType.CONTACT
        )
        assert sides.exchange[0].record.notes == BODIES[3]  # type: ignore[attr-defined]
        crm_tasks = world.crm[EntityType.TASK].records(mailbox)
        assert sorted(t.body for t in crm_tasks) == sorted([BODIES[1], BODIES[3]])
    injected = world.sim.counters
    assert injected["injected.http_503"]
    assert injected["injected.server_busy"]
    names = Counter(record.name.split(".")[0] for record in caplog.records)
    assert names["httpcore"] > 0, names
    assert names["httpx"] > 0, names
    assert any(r.name == "crm_ews.wire" for r in caplog.records)
    assert any("retry" in r.getMessage() for r in caplog.records)

    assert leaks(everything(caplog.records)) == []
    assert leaks("\n".join(world.shown)) == []
    assert isinstance(world.crm[EntityType.CONTACT].records(s.ALICE)[0], Contact)


def test_refused_login_error_and_report_hold_no_password(
    front_door: tuple[FrontDoor, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong password: the error, its chain, the report and logs stay clean."""
    caplog.set_level(logging.DEBUG)
    door, base = front_door
    world = World(door, base)

    report = world.sync(BasicAuth(s.SVC, WRONG_PASSWORD))

    assert len(report.failed) == len(MAILBOXES)
    assert {m.error for m in report.failed} == {"AuthenticationError"}
    texts = [m.error_message or "" for m in report.failed]

    async def direct() -> None:
        transport = world.transport(BasicAuth(s.SVC, WRONG_PASSWORD))
        async with transport, AsyncEWSClient(transport=transport) as client:
            await client.get_folder(CONTACTS, mailbox=s.ALICE)

    with pytest.raises(AuthenticationError) as info:
        s.run(direct())
    error: BaseException | None = info.value
    while error is not None:
        texts += [str(error), repr(error), *map(repr, error.args)]
        error = error.__cause__ or error.__context__

    assert leaks("\n".join(texts)) == []
    assert leaks(everything(caplog.records)) == []
    assert leaks("\n".join(world.shown)) == []
