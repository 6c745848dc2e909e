"""Hostile and broken response bodies: always a typed error, bounded memory.

Every case goes through :func:`decode_envelope` (and :func:`parse_xml` where
the document itself is the attack) and must end in ``ResponseDecodeError``,
never in an untyped exception, a file read, a network connection or an
unbounded allocation.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from crm_ews._soap import decode_envelope, parse_xml
from crm_ews.errors import CRMEWSError, ResponseDecodeError
from tests.soap._builders import SOAP_NS, envelope, get_folder_response

MAILBOX = "alice@example.com"
#: Leading padding that pushes a DOCTYPE past the codec's cheap prolog scan,
#: so libxml2 itself has to refuse what follows.
PAD = "<!-- " + "p" * 5000 + " -->"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"


def _decode(data: bytes, **kwargs: int) -> None:
    decode_envelope(data, operation="GetFolder", mailbox=MAILBOX, **kwargs)


def _laughs(levels: int = 9) -> str:
    """The classic nested-entity expansion ("billion laughs")."""
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, levels + 1):
        refs = f"&lol{level - 1};" * 10
        entities.append(f'<!ENTITY lol{level} "{refs}">')
    return f"<!DOCTYPE s:Envelope [{''.join(entities)}]>"


def _soap_with(body_text: str) -> str:
    return (
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body>'
        f"<m:GetFolderResponse "
        f'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
        f"{body_text}</m:GetFolderResponse></s:Body></s:Envelope>"
    )


def _all_text(error: BaseException) -> str:
    """Every string an exception chain could show to a log or a user."""
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        parts.extend([str(seen), repr(seen), *map(str, seen.args)])
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


# --- small documents: each must be refused ------------------------------------

REFUSED: dict[str, bytes] = {
    "doctype": b"<!DOCTYPE s:Envelope>" + envelope(get_folder_response())[38:],
    "doctype-lowercase": b"<!doctype html><html/>",
    "internal-entity": (
        '<!DOCTYPE s:Envelope [<!ENTITY who "mallory">]>' + _soap_with("&who;")
    ).encode(),
    "internal-entity-padded": (
        PAD + '<!DOCTYPE s:Envelope [<!ENTITY who "mallory">]>' + _soap_with("&who;")
    ).encode(),
    "billion-laughs": (_laughs() + _soap_with("&lol9;")).encode(),
    "billion-laughs-padded": (PAD + _laughs() + _soap_with("&lol9;")).encode(),
    "billion-laughs-utf16": (
        '<?xml version="1.0" encoding="UTF-16"?>' + _laughs() + _soap_with("&lol9;")
    ).encode("utf-16"),
    "quadratic-blowup": (
        PAD
        + f'<!DOCTYPE s:Envelope [<!ENTITY a "{"a" * 50_000}">]>'
        + _soap_with("&a;" * 5_000)
    ).encode(),
    "utf16-doctype": (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x "y">]>'
        + _soap_with("&x;")
    ).encode("utf-16"),
    "utf16-doctype-no-declaration": (
        '<!DOCTYPE r [<!ENTITY x "y">]>' + _soap_with("&x;")
    ).encode("utf-16"),
    "deeply-nested": envelope("<a>" * 100_000 + "</a>" * 100_000),
    "invalid-utf8": envelope(get_folder_response()).replace(
        b"Calendar", b"Cal\xff\xfe\xc3ndar"
    ),
    "latin1-bytes-declared-utf8": _soap_with("caf\u00e9").encode("latin-1"),
    "unknown-encoding": b'<?xml version="1.0" encoding="x-made-up"?><a/>',
    "declared-utf16-but-utf8": b'<?xml version="1.0" encoding="utf-16"?><a/>',
    "nul-bytes": b"\x00" * 64,
    "binary-garbage": bytes(range(256)) * 4,
    "truncated": envelope(get_folder_response())[:-40],
    "two-roots": envelope(get_folder_response()) + b"<extra/>",
    "html-error-page": (
        b"<html><head><title>502 Bad Gateway</title></head>"
        b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>proxy"
        b"</center></body></html>"
    ),
    "html-well-formed": b"<html><body><p>Service Unavailable</p></body></html>",
    "html-with-doctype": (
        b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">'
        b'<html xmlns="http://www.w3.org/1999/xhtml"><body/></html>'
    ),
    "json": b'{"error": {"code": "ErrorServerBusy"}}',
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "plain-text": b"Service Unavailable",
    "no-namespace-envelope": b"<Envelope><Body><GetFolderResponse/></Body></Envelope>",
    "https-namespace-envelope": envelope(get_folder_response()).replace(
        b"http://schemas.xmlsoap.org/soap/envelope/",
        b"https://schemas.xmlsoap.org/soap/envelope/",
    ),
    "soap12-envelope": envelope(get_folder_response()).replace(
        SOAP_NS.encode(), SOAP12_NS.encode()
    ),
    "wrong-root": f'<s:Body xmlns:s="{SOAP_NS}"/>'.encode(),
    "missing-body": (
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Header/></s:Envelope>'.encode()
    ),
    "empty-body": envelope(""),
    "text-only-body": envelope("just text"),
    "multiple-body-children": envelope(get_folder_response() * 2),
    "xinclude-as-body": envelope(
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        'href="file:///etc/hostname" parse="text"/>'
    ),
    "processing-instruction-only-body": envelope("<?php echo 1; ?>"),
}


@pytest.mark.parametrize("data", REFUSED.values(), ids=REFUSED.keys())
def test_hostile_or_broken_body_is_a_decode_error(data: bytes) -> None:
    """Each document in the corpus ends in ResponseDecodeError, nothing else."""
    with pytest.raises(ResponseDecodeError) as info:
        _decode(data)

    assert info.value.message
    assert len(str(info.value)) < 400


@pytest.mark.parametrize(
    "data",
    [
        REFUSED[name]
        for name in (
            "doctype",
            "internal-entity-padded",
            "billion-laughs-padded",
            "billion-laughs-utf16",
            "utf16-doctype",
            "deeply-nested",
            "invalid-utf8",
            "json",
        )
    ],
)
def test_parse_xml_itself_refuses_the_attacks(data: bytes) -> None:
    """The parser refuses entity, DOCTYPE and depth attacks on its own."""
    with pytest.raises(ResponseDecodeError):
        parse_xml(data)


def test_whitespace_only_body_is_refused_as_empty() -> None:
    """A body of blanks and line breaks is an empty response, not a parse error."""
    with pytest.raises(ResponseDecodeError, match="empty"):
        parse_xml(b" \r\n\t \x0b\x0c")


def test_doctype_message_names_the_reason() -> None:
    """A DOCTYPE refusal says so, whether found before or after parsing."""
    for data in (REFUSED["doctype"], REFUSED["utf16-doctype"]):
        with pytest.raises(ResponseDecodeError, match="DOCTYPE"):
            parse_xml(data)


def test_body_over_the_cap_is_refused_before_parsing() -> None:
    """max_bytes refuses a body one byte over the limit."""
    data = envelope(get_folder_response())

    _decode(data, max_bytes=len(data))
    with pytest.raises(ResponseDecodeError, match="exceeds"):
        _decode(data, max_bytes=len(data) - 1)


def test_str_instead_of_bytes_is_api_misuse() -> None:
    """parse_xml takes bytes; a str is a TypeError, not a decode error."""
    with pytest.raises(TypeError):
        parse_xml("<a/>")  # type: ignore[arg-type]


def test_processing_instructions_and_comments_are_dropped() -> None:
    """PIs and comments never reach the tree the codec hands upward."""
    data = (
        '<?xml version="1.0"?><?xml-stylesheet href="evil.xsl"?>'
        f'<s:Envelope xmlns:s="{SOAP_NS}"><!-- note --><s:Body>'
        f"<?php echo 1; ?>{get_folder_response()}</s:Body></s:Envelope>"
    ).encode()

    root = parse_xml(data)

    assert not any(
        isinstance(node, (etree._ProcessingInstruction, etree._Comment))
        for node in root.iter()
    )
    assert root.getprevious() is None
    decode_envelope(data, operation="GetFolder", mailbox=MAILBOX)


# --- file and network access ---------------------------------------------------


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    """A local file holding a unique marker no parse may ever reveal."""
    marker = f"MARKER-{uuid.uuid4().hex}"
    path = tmp_path / "secret.txt"
    path.write_text(marker)
    return path, marker


def _external_entity_docs(uri: str) -> Iterator[tuple[str, bytes]]:
    general = f'<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM "{uri}">]>'
    parameter = f'<!DOCTYPE s:Envelope [<!ENTITY % p SYSTEM "{uri}"> %p;]>'
    external_dtd = f'<!DOCTYPE s:Envelope SYSTEM "{uri}">'
    in_body = _soap_with("&x;")
    yield "general", (general + in_body).encode()
    yield "general-padded", (PAD + general + in_body).encode()
    yield (
        "general-utf16",
        ('<?xml version="1.0" encoding="UTF-16"?>' + general + in_body).encode(
            "utf-16"
        ),
    )
    yield "parameter-padded", (PAD + parameter + _soap_with("")).encode()
    yield "external-dtd-padded", (PAD + external_dtd + _soap_with("")).encode()
    yield (
        "attribute",
        (
            PAD
            + general
            + f'<s:Envelope xmlns:s="{SOAP_NS}" a="&x;"><s:Body/></s:Envelope>'
        ).encode(),
    )


def test_external_file_entity_is_never_read(secret_file: tuple[Path, str]) -> None:
    """file:// entities, DTDs and parameter entities never leak the file."""
    path, marker = secret_file

    for name, data in _external_entity_docs(path.as_uri()):
        with pytest.raises(ResponseDecodeError) as info:
            _decode(data)
        assert marker not in _all_text(info.value), name


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    """A loopback socket that records whether anybody connected."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


@pytest.mark.network
def test_external_http_entity_opens_no_connection(
    listening_socket: socket.socket,
) -> None:
    """http:// entities and DTDs to a listening loopback port get no connect."""
    port = listening_socket.getsockname()[1]
    uri = f"http://127.0.0.1:{port}/evil.dtd"

    for name, data in _external_entity_docs(uri):
        with pytest.raises(ResponseDecodeError):
            _decode(data)
        try:
            conn, _ = listening_socket.accept()
        except BlockingIOError:
            continue
        conn.close()
        pytest.fail(f"the parser connected for {name}")


def test_xinclude_is_not_processed(secret_file: tuple[Path, str]) -> None:
    """An xi:include inside a response stays an inert unknown element."""
    path, marker = secret_file
    include = (
        '<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
        f'href="{path.as_uri()}" parse="text"/>'
    )
    data = envelope(
        get_folder_response().replace(
            "<m:ResponseMessages>", include + "<m:ResponseMessages>"
        )
    )

    decoded = decode_envelope(data, operation="GetFolder", mailbox=MAILBOX)

    assert marker not in etree.tostring(decoded.element, encoding="unicode")
    assert decoded.element.find("{http://www.w3.org/2001/XInclude}include") is not None


# --- large documents: typed error and bounded memory ----------------------------

MB = 1024 * 1024


def _python_peak(action: Callable[[], object]) -> tuple[BaseException | None, int]:
    """Run ``action`` under tracemalloc; return what it raised and the peak."""
    tracemalloc.start()
    try:
        action()
    except Exception as exc:
        raised: BaseException | None = exc
    else:
        raised = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


@pytest.mark.parametrize(
    ("name", "build", "reason"),
    [
        (
            "text-node-11MB",
            lambda: _soap_with("x" * (11 * MB)).encode(),
            "Text node too long",
        ),
        (
            "attribute-11MB",
            lambda: _soap_with(
                f'<t:X xmlns:t="urn:x" a="{"x" * (11 * MB)}"/>'
            ).encode(),
            "limit exceeded",
        ),
        (
            "depth-100k",
            lambda: envelope("<a>" * 100_000 + "</a>" * 100_000),
            "Excessive depth",
        ),
    ],
)
def test_big_hostile_body_fails_typed_within_bounded_memory(
    name: str, build: Callable[[], bytes], reason: str
) -> None:
    """Huge text, attributes and depth fail typed; Python memory stays small."""
    data = build()

    raised, peak = _python_peak(lambda: _decode(data))

    assert isinstance(raised, ResponseDecodeError), (name, raised)
    assert reason in str(raised)
    assert peak < 2 * MB, f"{name}: tracemalloc peak {peak} bytes"


def test_oversized_body_is_refused_without_copying() -> None:
    """A body over max_bytes is refused before any copy or parse is made."""
    data = b"<a>" + b"x" * (40 * MB) + b"</a>"

    raised, peak = _python_peak(lambda: _decode(data, max_bytes=32 * MB))

    assert isinstance(raised, ResponseDecodeError)
    assert peak < MB


_NATIVE_PROBE = textwrap.dedent(
    """
    import sys
    from crm_ews._soap import parse_xml
    from crm_ews.errors import ResponseDecodeError

    pad = "<!-- " + "p" * 5000 + " -->"
    lol = ['<!ENTITY l0 "lol">'] + [
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    ]
    docs = [
        (pad + "<!DOCTYPE r [" + "".join(lol) + "]><r>&l9;</r>").encode(),
        (pad + '<!DOCTYPE r [<!ENTITY a "' + "a" * 50000 + '">]><r>'
         + "&a;" * 20000 + "</r>").encode(),
        b"<r>" + b"x" * (12 * 1024 * 1024) + b"</r>",
        b"<a>" * 100000 + b"</a>" * 100000,
        b'<r a="' + b"x" * (12 * 1024 * 1024) + b'"/>',
    ]
    for doc in docs:
        try:
            parse_xml(doc)
        except ResponseDecodeError:
            pass
        else:
            sys.exit("a hostile document parsed")
    # VmHWM belongs to this process image; ru_maxrss would carry over the
    # parent's peak across execve and measure pytest instead of the parser.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                print(int(line.split()[1]))
    """
)


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_native_memory_of_hostile_parses_stays_bounded() -> None:
    """libxml2's own allocations (invisible to tracemalloc) stay bounded too."""
    result = subprocess.run(
        [sys.executable, "-c", _NATIVE_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    peak_kib = int(result.stdout.strip())
    assert peak_kib < 256 * 1024, f"child peak RSS {peak_kib} KiB"


def test_every_refusal_is_a_crm_ews_error() -> None:
    """ResponseDecodeError sits in the tree callers already catch."""
    assert issubclass(ResponseDecodeError, CRMEWSError)
