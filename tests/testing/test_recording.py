"""Recording and replaying EWS exchanges through httpx transports."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from crm_ews._soap import parse_xml, t
from crm_ews.errors import ResponseDecodeError
from crm_ews.testing._recording import (
    AsyncRecordingTransport,
    AsyncReplayTransport,
    RecordedExchange,
    RecordingTransport,
    ReplayMatch,
    ReplayMismatchError,
    ReplayTransport,
    Scrubber,
    ScrubRules,
    load_recording,
)
from tests.fixtures.test_fixtures import secret_findings

FIXTURES = Path(__file__).parents[1] / "fixtures" / "soap"
URL = "https://mail.realcorp.de/EWS/Exchange.asmx"
REAL = "jane.doe@realcorp.de"
SECRET = "hunter2-very-secret"
BASIC = "Basic " + base64.b64encode(b"svc-crm@realcorp.de:" + SECRET.encode()).decode()


def _fixture(operation: str, case: str, kind: str) -> bytes:
    return (FIXTURES / operation / f"{case}.{kind}.xml").read_bytes()


def _realistic(data: bytes) -> bytes:
    """A fixture dressed up as real traffic: real-looking names and a secret."""
    return (
        data.replace(b"alice@example.com", REAL.encode())
        .replace(b"contoso.com", b"realcorp.de")
        .replace(
            b"prefers calls before noon.",
            b"prefers calls before noon. Portal password=" + SECRET.encode(),
        )
    )


def _canonical(data: bytes) -> bytes:
    return etree.tostring(parse_xml(data), method="c14n2", strip_text=True)


def _serving(body: bytes, *, gzipped: bool = True) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "text/xml; charset=utf-8", "Set-Cookie": "X=1"}
        content = body
        if gzipped:
            headers["Content-Encoding"] = "gzip"
            content = gzip.compress(body)
        return httpx.Response(200, headers=headers, content=content)

    return httpx.MockTransport(handler)


def _send(client: httpx.Client, body: bytes, anchor: str | None) -> httpx.Response:
    headers = {"Content-Type": "text/xml; charset=utf-8", "Authorization": BASIC}
    if anchor is not None:
        headers["X-AnchorMailbox"] = anchor
    return client.post(URL, content=body, headers=headers)


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, bytes, bytes, httpx.Response]:
    """One GetItem exchange recorded from realistic traffic into tmp_path."""
    request = _realistic(_fixture("GetItem", "contact", "request"))
    response = _realistic(_fixture("GetItem", "contact", "response"))
    recorder = RecordingTransport(_serving(response), tmp_path, name="rec")
    with httpx.Client(transport=recorder) as client:
        received = _send(client, request, REAL)
    return tmp_path, request, response, received


def _all_files_text(folder: Path) -> str:
    return "\n".join(
        path.read_text(encoding="utf-8") for path in sorted(folder.rglob("*.*"))
    )


# --- recording -------------------------------------------------------------------


def test_recording_writes_the_fixture_layout(
    recorded: tuple[Path, bytes, bytes, httpx.Response],
) -> None:
    """Request, response and meta land in <dir>/<Operation>/<case>.*."""
    folder = recorded[0]

    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*.*"))

    assert names == [
        "GetItem/rec-001.meta.json",
        "GetItem/rec-001.request.xml",
        "GetItem/rec-001.response.xml",
    ]


def test_caller_gets_the_server_response_unchanged(
    recorded: tuple[Path, bytes, bytes, httpx.Response],
) -> None:
    """Recording is transparent: the client sees the real, unscrubbed bytes."""
    _, _, response, received = recorded

    assert received.status_code == 200
    assert received.content == response
    assert received.headers["content-encoding"] == "gzip"


def test_recorded_files_hold_no_secret_or_real_address(
    recorded: tuple[Path, bytes, bytes, httpx.Response],
) -> None:
    """No password, credential header, cookie or real address reaches a file."""
    text = _all_files_text(recorded[0]).lower()

    for needle in ("realcorp", "jane.doe", SECRET, "basic ", "authorization"):
        assert needle.lower() not in text
    assert "cookie" not in text
    assert "portal [redacted]" in text


def test_recorded_response_is_inflated_xml(
    recorded: tuple[Path, bytes, bytes, httpx.Response],
) -> None:
    """The gzip body is stored decompressed, as parseable XML."""
    data = (recorded[0] / "GetItem" / "rec-001.response.xml").read_bytes()

    root = parse_xml(data)

    assert root.find(f".//{t('Contact')}") is not None


def test_meta_names_status_mailbox_and_safe_headers(
    recorded: tuple[Path, bytes, bytes, httpx.Response],
) -> None:
    """The meta file keeps status, scrubbed mailbox/anchor and allowed headers."""
    meta = json.loads((recorded[0] / "GetItem" / "rec-001.meta.json").read_text())

    assert meta["status_code"] == 200
    assert meta["operation"] == "GetItem"
    assert meta["mailbox"] == "user1@example.com"
    assert meta["anchor_mailbox"] == "user1@example.com"
    assert set(meta["request_headers"]) == {"content-type", "x-anchormailbox"}
    assert set(meta["response_headers"]) == {"content-type"}


def test_ids_are_replaced_consistently_across_request_and_response(
    recorded: tuple[Path, bytes, bytes, httpx.Response],
) -> None:
    """The same ItemId gets the same same-length fake in request and response."""
    folder, request, _, _ = recorded
    original = parse_xml(request).find(f".//{t('ItemId')}")
    sent = parse_xml((folder / "GetItem" / "rec-001.request.xml").read_bytes())
    answered = parse_xml((folder / "GetItem" / "rec-001.response.xml").read_bytes())
    assert original is not None
    sent_id = sent.find(f".//{t('ItemId')}")
    answered_id = answered.find(f".//{t('ItemId')}")
    assert sent_id is not None
    assert answered_id is not None

    assert sent_id.get("Id") == answered_id.get("Id")
    assert sent_id.get("ChangeKey") == answered_id.get("ChangeKey")
    assert sent_id.get("Id") != original.get("Id")
    assert len(sent_id.get("Id") or "") == len(original.get("Id") or "")


def test_overwriting_a_recording_needs_consent(tmp_path: Path) -> None:
    """A second session with the same name refuses to clobber files."""
    request = _fixture("GetFolder", "distinguished_folders", "request")
    response = _fixture("GetFolder", "distinguished_folders", "response")
    for overwrite in (False, True):
        recorder = RecordingTransport(
            _serving(response), tmp_path, name="x", overwrite=overwrite
        )
        with httpx.Client(transport=recorder) as client:
            _send(client, request, "alice@example.com")

    recorder = RecordingTransport(_serving(response), tmp_path, name="x")
    with (
        httpx.Client(transport=recorder) as client,
        pytest.raises(FileExistsError, match="overwrite=True"),
    ):
        _send(client, request, "alice@example.com")


def test_non_xml_response_is_recorded_as_scrubbed_text(tmp_path: Path) -> None:
    """An HTML proxy page is kept (scrubbed) and flagged as not XML."""
    page = f"<html><body>Proxy error for {REAL}</body>".encode()
    recorder = RecordingTransport(_serving(page, gzipped=False), tmp_path)
    with httpx.Client(transport=recorder) as client:
        _send(client, _fixture("GetFolder", "distinguished_folders", "request"), None)

    meta = json.loads(next(tmp_path.rglob("*.meta.json")).read_text())
    body = next(tmp_path.rglob("*.response.xml")).read_text()
    assert meta["response_is_xml"] is False
    assert meta["anchor_mailbox"] is None
    assert REAL not in body
    assert "user" in body


# --- replay --------------------------------------------------------------------


def test_replay_serves_the_recording_back(
    recorded: tuple[Path, bytes, bytes, httpx.Response],
) -> None:
    """Replaying the recorded request yields exactly the recorded response."""
    folder = recorded[0]
    request = (folder / "GetItem" / "rec-001.request.xml").read_bytes()
    replay = ReplayTransport.from_directory(folder, recording="rec")

    with httpx.Client(transport=replay) as client:
        response = _send(client, request, "user1@example.com")

    assert response.status_code == 200
    assert (
        response.content == (folder / "GetItem" / "rec-001.response.xml").read_bytes()
    )
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert replay.pending == ()
    replay.assert_all_used()


def test_unscrubbed_replay_is_identical_to_the_original(tmp_path: Path) -> None:
    """With ids and addresses kept, the replay equals the server's response."""
    request = _fixture("GetItem", "calendar_recurring", "request")
    response = _fixture("GetItem", "calendar_recurring", "response")
    rules = ScrubRules(addresses=False, ids=False)
    recorder = RecordingTransport(_serving(response), tmp_path, rules=rules)
    with httpx.Client(transport=recorder) as client:
        original = _send(client, request, "alice@example.com")

    with httpx.Client(transport=ReplayTransport.from_directory(tmp_path)) as client:
        replayed = _send(client, request, "alice@example.com")

    assert replayed.status_code == original.status_code
    assert _canonical(replayed.content) == _canonical(original.content)


def test_hand_made_fixtures_replay_in_order() -> None:
    """A two-page sync replays from fixtures without a meta file."""
    exchanges = [
        RecordedExchange.load(FIXTURES, "SyncFolderItems", f"two_pages_{n}")
        for n in (1, 2)
    ]
    replay = ReplayTransport(exchanges, compare_bodies=True)

    with httpx.Client(transport=replay) as client:
        codes = [
            _send(client, exchange.request, "alice@example.com").status_code
            for exchange in exchanges
        ]

    assert codes == [200, 200]
    assert exchanges[0].mailbox == "alice@example.com"
    assert replay.pending == ()


def test_fault_fixture_replays_as_http_500() -> None:
    """A SOAP fault without meta is served the way Exchange does: HTTP 500."""
    exchange = RecordedExchange.load(FIXTURES, "Faults", "server_busy")

    with httpx.Client(transport=ReplayTransport([exchange])) as client:
        response = _send(client, exchange.request, "alice@example.com")

    assert response.status_code == 500
    assert b"ErrorServerBusy" in response.content


def _one_exchange_replay(**kwargs: object) -> tuple[ReplayTransport, RecordedExchange]:
    exchange = RecordedExchange.load(FIXTURES, "GetItem", "contact")
    return ReplayTransport([exchange], **kwargs), exchange  # type: ignore[arg-type]


def _mismatch(replay: ReplayTransport, body: bytes, anchor: str | None) -> str:
    with (
        httpx.Client(transport=replay) as client,
        pytest.raises(ReplayMismatchError) as info,
    ):
        _send(client, body, anchor)
    return str(info.value)


def test_wrong_operation_fails_loudly_with_a_diff() -> None:
    """Another operation names both operations, the mailbox and a diff."""
    replay, _ = _one_exchange_replay()
    body = _fixture("GetFolder", "distinguished_folders", "request")

    message = _mismatch(replay, body, "alice@example.com")

    assert "unexpected GetFolder request for mailbox alice@example.com" in message
    assert "expected operation GetItem" in message
    assert "--- recorded" in message
    assert "+++ sent" in message
    assert replay.pending


def test_wrong_mailbox_fails_loudly() -> None:
    """Impersonating someone else than recorded is refused."""
    replay, exchange = _one_exchange_replay()
    body = exchange.request.replace(b"alice@example.com", b"bob@example.com")

    message = _mismatch(replay, body, "bob@example.com")

    assert "mailbox bob@example.com" in message
    assert "expected mailbox alice@example.com" in message


@pytest.mark.parametrize("anchor", [None, "bob@example.com"])
def test_wrong_or_missing_anchor_fails_loudly(anchor: str | None) -> None:
    """X-AnchorMailbox must match the recording (case-insensitively)."""
    replay, exchange = _one_exchange_replay()

    message = _mismatch(replay, exchange.request, anchor)

    assert f"got {anchor or 'none'}" in message
    assert "X-AnchorMailbox alice@example.com" in message


def test_anchor_compares_case_insensitively() -> None:
    """Address case differences are not a mismatch."""
    replay, exchange = _one_exchange_replay()

    with httpx.Client(transport=replay) as client:
        response = _send(client, exchange.request, "Alice@Example.com")

    assert response.status_code == 200


def test_exhausted_replay_fails_loudly() -> None:
    """A request after the last recorded exchange is refused."""
    replay, exchange = _one_exchange_replay()
    with httpx.Client(transport=replay) as client:
        _send(client, exchange.request, "alice@example.com")

    message = _mismatch(replay, exchange.request, "alice@example.com")

    assert "already served" in message


def test_non_soap_request_fails_loudly() -> None:
    """A body that is not a SOAP envelope is a mismatch, not a crash."""
    replay, _ = _one_exchange_replay()

    message = _mismatch(replay, b'{"json": true}', None)

    assert "not a SOAP envelope" in message


def test_body_change_is_caught_when_bodies_are_compared() -> None:
    """compare_bodies shows the changed element in the diff."""
    replay, exchange = _one_exchange_replay(compare_bodies=True)
    body = exchange.request.replace(b"AllProperties", b"IdOnly")

    message = _mismatch(replay, body, "alice@example.com")

    assert "differs from the recording" in message
    assert re.search(r"^-\s+= 'AllProperties'$", message, re.MULTILINE)
    assert re.search(r"^\+\s+= 'IdOnly'$", message, re.MULTILINE)


def test_by_request_matching_picks_the_matching_exchange() -> None:
    """BY_REQUEST serves exchanges out of order when bodies match."""
    exchanges = [
        RecordedExchange.load(FIXTURES, "GetItem", case) for case in ("contact", "task")
    ]
    replay = ReplayTransport(exchanges, match=ReplayMatch.BY_REQUEST)

    with httpx.Client(transport=replay) as client:
        task = _send(client, exchanges[1].request, "alice@example.com")
        contact = _send(client, exchanges[0].request, "alice@example.com")

    assert b"<t:Task>" in task.content
    assert b"<t:Contact>" in contact.content


def test_by_request_without_match_shows_the_closest_diff() -> None:
    """No matching body: the error diffs against the same operation's record."""
    exchanges = [RecordedExchange.load(FIXTURES, "GetItem", "task")]
    replay = ReplayTransport(exchanges, match=ReplayMatch.BY_REQUEST)
    body = exchanges[0].request.replace(b"AllProperties", b"Default")

    message = _mismatch(replay, body, "alice@example.com")

    assert "recorded: GetItem/task (GetItem)" in message
    assert "'Default'" in message


def test_unused_exchanges_are_reported() -> None:
    """assert_all_used names the exchanges nobody asked for."""
    replay, _ = _one_exchange_replay()

    with pytest.raises(ReplayMismatchError, match="GetItem/contact"):
        replay.assert_all_used()


def test_mismatch_is_an_assertion_error_not_a_transport_error() -> None:
    """Test runners report it as a failure; retry logic never swallows it."""
    assert issubclass(ReplayMismatchError, AssertionError)
    assert not issubclass(ReplayMismatchError, httpx.HTTPError)


def test_load_recording_without_files_is_loud(tmp_path: Path) -> None:
    """Replaying an empty folder is a FileNotFoundError, not an empty replay."""
    with pytest.raises(FileNotFoundError):
        load_recording(tmp_path)


# --- async ------------------------------------------------------------------------


def test_async_record_and_replay(tmp_path: Path) -> None:
    """The async twins record and replay the same way."""
    request = _realistic(_fixture("GetItem", "task", "request"))
    response = _realistic(_fixture("GetItem", "task", "response"))
    headers = {"X-AnchorMailbox": REAL, "Authorization": BASIC}

    async def scenario() -> tuple[httpx.Response, httpx.Response, int]:
        recorder = AsyncRecordingTransport(_serving(response), tmp_path, name="a")
        async with httpx.AsyncClient(transport=recorder) as client:
            original = await client.post(URL, content=request, headers=headers)
        replay = AsyncReplayTransport.from_directory(tmp_path)
        recorded_request = (tmp_path / "GetItem" / "a-001.request.xml").read_bytes()
        async with httpx.AsyncClient(transport=replay) as client:
            replayed = await client.post(
                URL,
                content=recorded_request,
                headers={"X-AnchorMailbox": "user1@example.com"},
            )
        return original, replayed, len(replay.pending)

    original, replayed, pending = asyncio.run(scenario())

    assert original.content == response
    assert REAL.encode() not in replayed.content
    assert _canonical(replayed.content) == _canonical(
        (tmp_path / "GetItem" / "a-001.response.xml").read_bytes()
    )
    assert pending == 0


# --- scrubbing rules -----------------------------------------------------------------

ADDRESSES = st.lists(
    st.builds(
        "{}@{}.{}".format,
        st.from_regex(r"[a-z][a-z0-9.]{0,10}[a-z0-9]", fullmatch=True),
        st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
        st.sampled_from(["de", "com", "net", "co.uk"]),
    ),
    min_size=1,
    max_size=8,
    unique_by=str.casefold,
)
IDS = st.lists(
    st.binary(min_size=12, max_size=120).map(lambda b: base64.b64encode(b).decode()),
    min_size=1,
    max_size=8,
    unique=True,
)


def _envelope(addresses: list[str], ids: list[str]) -> bytes:
    mailboxes = "".join(
        f"<t:Mailbox><t:EmailAddress>{a}</t:EmailAddress></t:Mailbox>"
        for a in addresses
    )
    items = "".join(f'<t:ItemId Id="{i}" ChangeKey="{i[:8]}AAAA"/>' for i in ids)
    return (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        f"<s:Body><t:X>{mailboxes}{items}</t:X></s:Body></s:Envelope>"
    ).encode()


def _pairs(scrubbed: bytes, tag: str, attr: str | None = None) -> list[str]:
    root = parse_xml(scrubbed)
    return [(node.get(attr) if attr else node.text) or "" for node in root.iter(t(tag))]


@settings(max_examples=60, deadline=None)
@given(addresses=ADDRESSES, ids=IDS)
def test_scrubbing_is_consistent_across_request_and_response(
    addresses: list[str], ids: list[str]
) -> None:
    """One scrubber maps each address and id to one fake, wherever it recurs."""
    scrubber = Scrubber()
    request = scrubber.xml(_envelope(addresses, ids))
    response = scrubber.xml(
        _envelope([a.upper() for a in reversed(addresses)], list(reversed(ids)))
    )

    sent = _pairs(request, "EmailAddress")
    answered = _pairs(response, "EmailAddress")
    sent_ids = _pairs(request, "ItemId", "Id")
    answered_ids = _pairs(response, "ItemId", "Id")

    assert answered == list(reversed(sent))
    assert answered_ids == list(reversed(sent_ids))
    assert len(set(sent)) == len(addresses)
    assert len(set(sent_ids)) == len(ids)
    assert all(re.fullmatch(r"user\d+@example\.com", fake) for fake in sent)
    for real, fake in zip(ids, sent_ids, strict=True):
        assert len(fake) == len(real)
        assert fake != real
        assert base64.b64decode(fake, validate=True)


@settings(max_examples=30, deadline=None)
@given(ids=IDS)
def test_fake_ids_depend_only_on_the_key(ids: list[str]) -> None:
    """Two sessions with one key agree on fakes; another key disagrees."""
    first = [Scrubber().identifier(value) for value in ids]
    second = [Scrubber().identifier(value) for value in ids]
    other = [Scrubber(ScrubRules(key="another")).identifier(value) for value in ids]

    assert first == second
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_well_known_ids_and_names_are_kept() -> None:
    """Distinguished folder names, time zone ids and namespaces stay as they are."""
    data = _fixture("GetItem", "calendar_recurring", "response")
    scrubbed = Scrubber().xml(data)

    assert b'Id="W. Europe Standard Time"' in scrubbed
    assert b"http://schemas.microsoft.com/exchange/services/2006/types" in scrubbed
    request = Scrubber().xml(_fixture("GetFolder", "distinguished_folders", "request"))
    assert b'<t:DistinguishedFolderId Id="calendar"/>' in request


@pytest.mark.parametrize(
    ("fragment", "leak"),
    [
        (
            '<w:Security xmlns:w="urn:wsse"><w:UsernameToken>'
            "<w:Username>svc</w:Username>"
            "<w:Password>p4ss-w0rd!</w:Password></w:UsernameToken></w:Security>",
            "p4ss-w0rd!",
        ),
        ("<t:Note>Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln</t:Note>", "eyJ"),
        ('<t:Note Token="abc123secretvalue"/>', "abc123secretvalue"),
        ("<t:Note>api_key=sk-live-123456</t:Note>", "sk-live-123456"),
        ("<t:Note>Authorization: NTLM TlRMTVNTUAADAAAAGAAYAHgAAAA</t:Note>", "TlRMTV"),
    ],
)
def test_credentials_are_always_removed(fragment: str, leak: str) -> None:
    """Even with every other rule off, credentials never survive."""
    data = (
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        f"<s:Header>{fragment}</s:Header><s:Body/></s:Envelope>"
    ).encode()
    rules = ScrubRules(addresses=False, ids=False, content=False)

    scrubbed = Scrubber(rules).xml(data)

    assert leak.encode() not in scrubbed
    assert b"[redacted]" in scrubbed


def test_content_rule_replaces_subjects_consistently() -> None:
    """content=True numbers each distinct subject once, everywhere."""
    scrubber = Scrubber(ScrubRules(content=True))
    first = scrubber.xml(_fixture("FindItem", "calendar_view", "response"))
    second = scrubber.xml(_fixture("FindItem", "calendar_view", "response"))

    subjects = _pairs(first, "Subject")

    assert subjects == ["Subject 1", "Subject 2", "Subject 3"]
    assert _pairs(second, "Subject") == subjects


def test_sids_and_hosts_are_mapped_in_shape() -> None:
    """SIDs keep their S-1-5-21 shape; URL hosts become hostN.example.com."""
    scrubber = Scrubber()
    sid = "S-1-5-21-1004336348-1177238915-682003330-1105"

    fake_sid = scrubber.mailbox(sid)
    text = scrubber.text(
        "see https://mail.realcorp.de/owa/ and https://mail.realcorp.de/"
    )

    assert re.fullmatch(r"S-1-5-21-\d{10}-\d{10}-\d{9}-\d{4}", fake_sid)
    assert fake_sid != sid
    assert text == "see https://host1.example.com/owa/ and https://host1.example.com/"


def test_pinned_addresses_keep_their_fake() -> None:
    """address_map fixes chosen fakes; numbering skips them."""
    rules = ScrubRules(address_map={"Svc-CRM@realcorp.de": "user1@example.com"})
    scrubber = Scrubber(rules)

    assert scrubber.address("svc-crm@REALCORP.de") == "user1@example.com"
    assert scrubber.address("jane@realcorp.de") == "user2@example.com"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"domain": "not a domain"}, ValueError),
        ({"address_map": {"jane": "user1@example.com"}}, ValueError),
        (
            {"address_map": {"a@x.de": "u@example.com", "b@x.de": "u@example.com"}},
            ValueError,
        ),
        ({"addresses": "yes"}, TypeError),
        ({"key": ""}, ValueError),
    ],
)
def test_bad_rules_are_refused(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    """Unusable ScrubRules fail at construction, with a builtin error."""
    build: Callable[..., ScrubRules] = ScrubRules
    with pytest.raises(error):
        build(**kwargs)


def test_bad_recording_name_is_refused(tmp_path: Path) -> None:
    """A case name that could escape the folder is a ValueError."""
    with pytest.raises(ValueError, match="name"):
        RecordingTransport(
            httpx.MockTransport(lambda r: httpx.Response(200)), tmp_path, name="../x"
        )


def test_recording_passes_the_committed_fixture_scan(
    recorded: tuple[Path, bytes, bytes, httpx.Response],
) -> None:
    """A default recording already meets the rules committed fixtures obey."""
    findings = secret_findings(_all_files_text(recorded[0]))

    assert findings == []


def test_endless_response_stops_at_the_cap(tmp_path: Path) -> None:
    """A streamed body over max_body_bytes fails typed and writes nothing."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_Endless())

    recorder = RecordingTransport(
        httpx.MockTransport(handler), tmp_path, max_body_bytes=64 * 1024
    )
    body = _fixture("GetFolder", "distinguished_folders", "request")
    with (
        httpx.Client(transport=recorder) as client,
        pytest.raises(ResponseDecodeError, match="exceeds"),
    ):
        _send(client, body, "alice@example.com")
    assert list(tmp_path.iterdir()) == []


class _Endless(httpx.SyncByteStream):
    """A response stream that never ends."""

    def __iter__(self) -> Iterator[bytes]:
        while True:
            yield b"x" * 4096
