"""Record EWS exchanges into scrubbed fixture files, and replay them.

:class:`RecordingTransport` wraps a real httpx transport.  Every exchange that
passes through it is written to ``<dir>/<Operation>/<case>.request.xml``,
``.response.xml`` and ``.meta.json`` (the layout of ``tests/fixtures/soap``),
after a :class:`Scrubber` has removed credentials and, by default, replaced
addresses and ids with stable fakes.  The same scrubber state covers requests
and responses, so an id handed out in one response is the same fake in the
request that sends it back, and a replay lines up.

:class:`ReplayTransport` serves those files back, in order or matched by
request, and raises :class:`ReplayMismatchError` naming the operation,
mailbox and a diff as soon as the code under test sends something the
recording does not expect.  Both have ``Async`` twins for
:class:`httpx.AsyncClient`.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import hashlib
import hmac
import json
import re
import string
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Final

import httpx
from lxml import etree

from crm_ews._soap import (
    DEFAULT_MAX_BODY_BYTES,
    MESSAGES_NS,
    TYPES_NS,
    BoundedInflater,
    parse_xml,
    soap,
    t,
)
from crm_ews.errors import ResponseDecodeError

__all__ = [
    "AsyncRecordingTransport",
    "AsyncReplayTransport",
    "RecordedExchange",
    "RecordingTransport",
    "ReplayMatch",
    "ReplayMismatchError",
    "ReplayTransport",
    "ScrubRules",
    "Scrubber",
    "load_recording",
]

#: Version of the ``.meta.json`` layout written next to each exchange.
META_FORMAT: Final = 1

#: Request headers a ``.meta.json`` may keep; everything else is dropped, so
#: ``Authorization``, ``Cookie`` and proxy credentials never reach a file.
RECORDED_REQUEST_HEADERS: Final = frozenset(
    {"content-type", "soapaction", "x-anchormailbox", "x-preferserveraffinity"}
)
#: Response headers a ``.meta.json`` may keep.
RECORDED_RESPONSE_HEADERS: Final = frozenset({"content-type", "retry-after"})

#: Operation folder for a request that is not a SOAP envelope.
UNKNOWN_OPERATION: Final = "Unknown"

_EWS_NAMESPACES: Final = frozenset({TYPES_NS, MESSAGES_NS})
#: Attributes that hold an opaque EWS id, on elements named ``...Id``.
_ID_ATTRIBUTES: Final = frozenset(
    [
        "Id",
        "ChangeKey",
        "RootItemId",
        "RootItemChangeKey",
        "RecurringMasterId",
        "OccurrenceId",
    ]
)
#: Elements whose text is an opaque id or state blob.
_ID_TEXT_ELEMENTS: Final = frozenset(
    [
        "SyncState",
        "UID",
        "SubscriptionId",
        "Watermark",
        "ConversationIndex",
        "InstanceKey",
        "StoreEntryId",
        "SearchKey",
        "WebClientReadFormQueryString",
        "WebClientEditFormQueryString",
    ]
)
#: Elements whose text is personal content, replaced when ``content=True``.
# Limitation: only these elements are replaced.  Extended property values,
# attachment names and other free text keep their words (addresses, hosts and
# credentials in them are still scrubbed), so a recording of real mailboxes
# can carry personal content there.  Read recordings before committing them.
_CONTENT_ELEMENTS: Final = frozenset(
    [
        "Subject",
        "Body",
        "TextBody",
        "UniqueBody",
        "NormalizedBody",
        "Preview",
        "Location",
        "DisplayName",
        "Name",
        "GivenName",
        "Surname",
        "MiddleName",
        "Nickname",
        "Initials",
        "FileAs",
        "FirstName",
        "LastName",
        "FullName",
        "CompanyName",
        "JobTitle",
        "Department",
        "OfficeLocation",
        "AssistantName",
        "Manager",
        "SpouseName",
        "Profession",
        "DisplayTo",
        "DisplayCc",
        "DisplayBcc",
        "LastModifiedName",
        "Street",
        "City",
        "State",
        "PostalCode",
        "CountryOrRegion",
        "Notes",
        "BillingInformation",
        "Mileage",
    ]
)
#: ``t:Entry`` parents whose entries are personal content (phone numbers...).
_CONTENT_ENTRY_PARENTS: Final = frozenset({"PhoneNumbers", "ImAddresses"})
#: Elements whose text names a mailbox (impersonation header, recipients).
_MAILBOX_ELEMENTS: Final = frozenset(
    {"PrimarySmtpAddress", "SmtpAddress", "PrincipalName", "SID", "EmailAddress"}
)
#: Element or attribute names whose values are always secret.
_SECRET_NAME: Final = re.compile(
    r"password|passwd|secret|token|credential|authori[sz]ation|cookie|"
    r"securitycontext",
    re.IGNORECASE,
)
_AUTH_SCHEME: Final = re.compile(
    r"\b(Bearer|Basic|Negotiate|NTLM|Digest|Kerberos)(\s+)[A-Za-z0-9._~+/-]{12,}=*",
    re.IGNORECASE,
)
_SECRET_ASSIGNMENT: Final = re.compile(
    r"\b(password|passwd|pwd|secret|client_secret|api[_-]?key|access_token|"
    r"refresh_token|token)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&;,<\"']+)",
    re.IGNORECASE,
)
_JWT: Final = re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*")
_EMAIL: Final = re.compile(r"[\w.+'-]+@(?:[\w-]+\.)+[A-Za-z]{2,}")
_URL_HOST: Final = re.compile(r"(?i)\b((?:https?|wss?|ftp)://)([^/\s\"'<>?#:@]+)")
_SID: Final = re.compile(r"\bS-1-5-21(?:-\d+){3,4}\b")
#: Hosts that name XML namespaces, not servers; kept as they are.
_NAMESPACE_HOSTS: Final = frozenset(
    {"schemas.microsoft.com", "schemas.xmlsoap.org", "www.w3.org"}
)
_BASE64: Final = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_REDACTED: Final = "[redacted]"
_DIFF_LINES: Final = 80


# --- scrubbing ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScrubRules:
    """What a :class:`Scrubber` replaces besides credentials (always removed).

    Args:
        addresses: Map each SMTP address or UPN to ``userN@<domain>``, numbered
            in order of first appearance; host names in URLs to
            ``hostN.<domain>``; Windows SIDs to fake SIDs of the same shape.
        ids: Replace ``ItemId``/``FolderId``/``ChangeKey`` attributes and id
            texts (``SyncState``, ``UID``...) with fakes of the same length.
        content: Replace subjects, bodies, names, locations, postal addresses
            and phone numbers with ``"<Element> N"``.
        key: Key of the keyed hash that derives fake ids; the same key gives
            the same fakes in every recording.  With the public default
            anyone can check a guessed real id against a fake; pass your own
            key when that matters.
        domain: Domain of fake addresses and hosts.
        address_map: Fixed fakes for chosen addresses (real -> fake), e.g. to
            keep a service account recognisable; matched case-insensitively.

    Raises:
        TypeError: A field has the wrong type.
        ValueError: ``domain`` or an ``address_map`` entry is not usable.
    """

    addresses: bool = True
    ids: bool = True
    content: bool = False
    # Limitation: the default key is public, so whoever can guess a real id
    # (they are structured, not random) can confirm it against its fake.
    # Recordings of sensitive mailboxes should pass their own key.
    key: str = "crm_ews fixture ids"
    domain: str = "example.com"
    address_map: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("addresses", "ids", "content"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be a bool")
        key: object = self.key
        domain: object = self.domain
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty str")
        if not isinstance(domain, str) or not re.fullmatch(
            r"(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}", domain
        ):
            raise ValueError("domain must be a host name like example.com")
        pinned: dict[str, str] = {}
        entries: object = self.address_map
        if not isinstance(entries, Mapping):
            raise TypeError("address_map must be a mapping")
        for real, fake in entries.items():
            if not isinstance(real, str) or not isinstance(fake, str):
                raise TypeError("address_map must map str to str")
            if not _EMAIL.fullmatch(real) or not _EMAIL.fullmatch(fake):
                raise ValueError("address_map entries must be user@domain addresses")
            pinned[real.casefold()] = fake.lower()
        if len(set(pinned.values())) != len(pinned):
            raise ValueError("address_map gives two addresses the same fake")
        object.__setattr__(self, "address_map", pinned)


class Scrubber:
    """Applies :class:`ScrubRules` with memory, so every fake stays consistent.

    One scrubber should see a whole recording session: the address numbering
    and the content numbering live in it.  Fake ids depend only on
    ``rules.key``, so they also agree between sessions.

    Warning:
        :attr:`address_map` holds the real addresses seen.  Never write it to
        a fixture.
    """

    def __init__(self, rules: ScrubRules | None = None) -> None:
        self.rules = rules if rules is not None else ScrubRules()
        self._addresses: dict[str, str] = dict(self.rules.address_map)
        self._used_fakes: set[str] = set(self._addresses.values())
        self._hosts: dict[str, str] = {}
        self._content: dict[tuple[str, str], str] = {}
        self._content_counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def address_map(self) -> dict[str, str]:
        """Real address (case-folded) -> fake address, for this session."""
        return dict(self._addresses)

    def address(self, value: str) -> str:
        """The fake for one address; the same real address gets the same fake."""
        key = value.casefold()
        with self._lock:
            fake = self._addresses.get(key)
            if fake is None:
                number = len(self._addresses) + 1
                while f"user{number}@{self.rules.domain}" in self._used_fakes:
                    number += 1
                fake = f"user{number}@{self.rules.domain}"
                self._addresses[key] = fake
                self._used_fakes.add(fake)
        return fake

    def host(self, value: str) -> str:
        """The fake for one host name in a URL."""
        key = value.casefold()
        if key in _NAMESPACE_HOSTS:
            return value
        with self._lock:
            fake = self._hosts.get(key)
            if fake is None:
                fake = f"host{len(self._hosts) + 1}.{self.rules.domain}"
                self._hosts[key] = fake
        return fake

    def identifier(self, value: str) -> str:
        """A fake of the same length: valid base64 stays valid base64."""
        if not value:
            return value
        if len(value) % 4 == 0 and _BASE64.match(value):
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            if raw:
                noise = _keyed_bytes(self.rules.key, value, len(raw))
                fake = base64.b64encode(noise).decode()
                if len(fake) == len(value):
                    return fake
        noise = _keyed_bytes(self.rules.key, "shape:" + value, len(value))
        return _same_shape(value, noise)

    def mailbox(self, value: str) -> str:
        """The fake for an impersonated mailbox in any ConnectingSID form.

        Addresses and UPNs map like :meth:`address`, SIDs to fake SIDs, and
        any other name (a bare account name) to an address fake as well, so
        no real mailbox name survives.  Unchanged when addresses are kept.
        """
        value = value.strip()
        if not self.rules.addresses or not value:
            return value
        if _SID.fullmatch(value):
            return self._sid(value)
        return self.address(value)

    def _sid(self, value: str) -> str:
        return "S-1-5-21" + self.identifier(value[len("S-1-5-21") :])

    def text(self, value: str) -> str:
        """Scrub free text: credentials always, addresses when the rules say."""
        # The whole credential goes, scheme or key name included, so a
        # scrubbed file never even hints at where a secret was.
        value = _AUTH_SCHEME.sub(_REDACTED, value)
        value = _SECRET_ASSIGNMENT.sub(_REDACTED, value)
        value = _JWT.sub(_REDACTED, value)
        if not self.rules.addresses:
            return value
        value = _URL_HOST.sub(lambda m: m.group(1) + self.host(m.group(2)), value)
        value = _EMAIL.sub(lambda m: self.address(m.group(0)), value)
        return _SID.sub(lambda m: self._sid(m.group(0)), value)

    def xml(self, data: bytes, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
        """Scrub a whole XML document; returns indented UTF-8 with a declaration.

        Raises:
            ResponseDecodeError: ``data`` is not well-formed or hostile XML.
        """
        root = parse_xml(data, max_bytes=max_bytes)
        self.element(root)
        etree.indent(root, space="  ")

        return etree.tostring(root, xml_declaration=True, encoding="utf-8") + b"\n"

    def element(self, root: etree._Element) -> None:
        """Scrub a parsed tree in place."""
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            if _SECRET_NAME.search(etree.QName(element).localname):
                _redact_subtree(element)
                continue
            self._attributes(element)
            self._element_text(element)
            if element.tail and element.tail.strip():
                element.tail = self.text(element.tail)

    def _attributes(self, element: etree._Element) -> None:
        local = etree.QName(element).localname
        is_id_element = (
            self.rules.ids
            and etree.QName(element).namespace in _EWS_NAMESPACES
            and local.endswith("Id")
            and local != "DistinguishedFolderId"
        )
        for name, value in element.attrib.items():
            attribute = etree.QName(name).localname
            if _SECRET_NAME.search(attribute):
                element.set(name, _REDACTED)
            elif is_id_element and attribute in _ID_ATTRIBUTES:
                element.set(name, self.identifier(value))
            else:
                element.set(name, self.text(value))

    def _element_text(self, element: etree._Element) -> None:
        if element.text is None or not element.text.strip():
            return
        qname = etree.QName(element)
        is_ews = qname.namespace in _EWS_NAMESPACES
        if is_ews and self.rules.ids and qname.localname in _ID_TEXT_ELEMENTS:
            element.text = self.identifier(element.text.strip())
        elif is_ews and qname.localname in _MAILBOX_ELEMENTS:
            element.text = self.mailbox(element.text)
        elif is_ews and self.rules.content and self._is_content(element):
            element.text = self._content_fake(qname.localname, element.text)
        else:
            element.text = self.text(element.text)

    @staticmethod
    def _is_content(element: etree._Element) -> bool:
        local = etree.QName(element).localname
        if local in _CONTENT_ELEMENTS:
            return True
        parent = element.getparent()
        return (
            local == "Entry"
            and parent is not None
            and etree.QName(parent).localname in _CONTENT_ENTRY_PARENTS
        )

    def _content_fake(self, local: str, value: str) -> str:
        key = (local, value)
        with self._lock:
            fake = self._content.get(key)
            if fake is None:
                count = self._content_counts.get(local, 0) + 1
                self._content_counts[local] = count
                fake = f"{local} {count}"
                self._content[key] = fake
        return fake


def _redact_subtree(element: etree._Element) -> None:
    for node in element.iter():
        if not isinstance(node.tag, str):
            continue
        if node.text and node.text.strip():
            node.text = _REDACTED
        for name in node.attrib:
            node.set(name, _REDACTED)
        if node is not element and node.tail and node.tail.strip():
            node.tail = _REDACTED


def _keyed_bytes(key: str, value: str, length: int) -> bytes:
    """``length`` bytes derived from ``value``: stable, unlinkable without key."""
    seed = hmac.new(key.encode(), value.encode(), hashlib.sha256).digest()
    out = bytearray()
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:length])


_CLASSES: Final = (
    (string.digits, string.digits),
    (string.ascii_uppercase, string.ascii_uppercase),
    (string.ascii_lowercase, string.ascii_lowercase),
)


def _same_shape(value: str, noise: bytes) -> str:
    """Replace letters and digits by others of the same class; keep the rest."""
    out = []
    for char, byte in zip(value, noise, strict=True):
        for members, alphabet in _CLASSES:
            if char in members:
                out.append(alphabet[byte % len(alphabet)])
                break
        else:
            out.append(char)
    return "".join(out)


# --- recorded exchanges ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedExchange:
    """One recorded request and the response served for it.

    ``mailbox`` is the impersonated mailbox named in the request's
    ``ExchangeImpersonation`` header, ``anchor_mailbox`` the ``X-AnchorMailbox``
    header sent with it (``None`` when there was none).  ``folder`` is the
    fixture folder it was loaded from, which differs from ``operation`` for
    ``Faults``.
    """

    operation: str
    case: str
    request: bytes
    response: bytes
    status_code: int = 200
    mailbox: str | None = None
    anchor_mailbox: str | None = None
    response_headers: Mapping[str, str] = field(
        default_factory=lambda: {"content-type": "text/xml; charset=utf-8"}
    )
    sequence: int | None = None
    recording: str | None = None
    folder: str | None = None

    @property
    def label(self) -> str:
        """``<folder>/<case>``, as the files are named."""
        return f"{self.folder or self.operation}/{self.case}"

    @classmethod
    def load(cls, directory: str | Path, operation: str, case: str) -> RecordedExchange:
        """Read ``<directory>/<operation>/<case>.*``; the ``.meta.json`` is optional.

        Without one (a hand-made fixture) the operation is read from the
        request, the status is 500 for a SOAP fault and 200 otherwise, and the
        expected anchor is the impersonated mailbox.

        Raises:
            FileNotFoundError: The request or response file is missing.
            ValueError: The ``.meta.json`` is not one this module wrote.
        """
        folder = Path(directory) / operation
        request = (folder / f"{case}.request.xml").read_bytes()
        response = (folder / f"{case}.response.xml").read_bytes()
        meta_path = folder / f"{case}.meta.json"
        if meta_path.exists():
            meta = _read_meta(meta_path)
            return cls(
                operation=meta.operation or operation,
                case=case,
                request=request,
                response=response,
                folder=operation,
                status_code=meta.status_code,
                mailbox=meta.mailbox,
                anchor_mailbox=meta.anchor_mailbox,
                response_headers=meta.response_headers,
                sequence=meta.sequence,
                recording=meta.recording,
            )

        try:
            inspected: _Inspected | None = _inspect(request)
        except ResponseDecodeError:
            inspected = None
        mailbox = inspected.mailbox if inspected else None
        return cls(
            operation=inspected.operation if inspected else operation,
            case=case,
            request=request,
            response=response,
            folder=operation,
            status_code=500 if _is_fault(response) else 200,
            mailbox=mailbox,
            anchor_mailbox=mailbox,
        )


@dataclass(frozen=True, slots=True)
class _Meta:
    operation: str | None
    status_code: int
    mailbox: str | None
    anchor_mailbox: str | None
    response_headers: dict[str, str]
    sequence: int | None
    recording: str | None


def _read_meta(path: Path) -> _Meta:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not a readable .meta.json") from exc
    if not isinstance(raw, dict) or raw.get("format") != META_FORMAT:
        raise ValueError(f"{path} is not a format {META_FORMAT} .meta.json")
    headers = raw.get("response_headers", {})
    status = raw.get("status_code", 200)
    sequence = raw.get("sequence")
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ValueError(f"{path}: response_headers must map str to str")
    if not isinstance(status, int) or not isinstance(sequence, (int, type(None))):
        raise ValueError(f"{path}: status_code and sequence must be integers")
    return _Meta(
        operation=_optional_str(raw, "operation", path),
        status_code=status,
        mailbox=_optional_str(raw, "mailbox", path),
        anchor_mailbox=_optional_str(raw, "anchor_mailbox", path),
        response_headers=dict(headers),
        sequence=sequence,
        recording=_optional_str(raw, "recording", path),
    )


def _optional_str(raw: Mapping[str, object], name: str, path: Path) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{path}: {name} must be a string")
    return value


def load_recording(
    directory: str | Path, *, recording: str | None = None
) -> list[RecordedExchange]:
    """All exchanges a :class:`RecordingTransport` wrote, in recorded order.

    Args:
        directory: The folder given to the recorder.
        recording: Only exchanges recorded under this ``name``.

    Raises:
        FileNotFoundError: No recorded exchange matches.
    """
    root = Path(directory)
    exchanges = []
    for meta_path in sorted(root.glob("*/*.meta.json")):
        case = meta_path.name.removesuffix(".meta.json")
        exchange = RecordedExchange.load(root, meta_path.parent.name, case)
        if recording is None or exchange.recording == recording:
            exchanges.append(exchange)
    if not exchanges:
        raise FileNotFoundError(f"no recorded exchanges under {root}")
    exchanges.sort(key=lambda e: (e.sequence is None, e.sequence or 0, e.case))
    return exchanges


# --- request inspection ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Inspected:
    operation: str
    mailbox: str | None
    normalized: tuple[str, ...]


def _inspect(body: bytes) -> _Inspected:
    """Operation, impersonated mailbox and a prefix-free outline of a request."""
    root = parse_xml(body)
    if root.tag != soap("Envelope"):
        raise ResponseDecodeError("request is not a SOAP 1.1 envelope")
    soap_body = root.find(soap("Body"))
    children = (
        [child for child in soap_body if isinstance(child.tag, str)]
        if soap_body is not None
        else []
    )
    if len(children) != 1:
        raise ResponseDecodeError("request Body does not hold one operation")

    return _Inspected(
        operation=etree.QName(children[0]).localname,
        mailbox=_mailbox_of(root),
        normalized=tuple(_outline(root)),
    )


def _mailbox_of(envelope: etree._Element) -> str | None:
    sid = envelope.find(
        f"{soap('Header')}/{t('ExchangeImpersonation')}/{t('ConnectingSID')}"
    )
    if sid is None:
        return None
    for child in sid:
        if isinstance(child.tag, str) and child.text and child.text.strip():
            return child.text.strip()
    return None


def _is_fault(body: bytes) -> bool:
    try:
        root = parse_xml(body)
    except ResponseDecodeError:
        return False
    return root.find(f"{soap('Body')}/{soap('Fault')}") is not None


def _outline(element: etree._Element, depth: int = 0) -> Iterator[str]:
    """One line per element and text, by namespace URI; blank text ignored."""
    pad = "  " * depth
    attributes = " ".join(f"{k}={v!r}" for k, v in sorted(element.attrib.items()))
    yield f"{pad}{etree.QName(element).text} {attributes}".rstrip()
    if element.text and element.text.strip():
        yield f"{pad}  = {element.text.strip()!r}"
    for child in element:
        if isinstance(child.tag, str):
            yield from _outline(child, depth + 1)
        if child.tail and child.tail.strip():
            yield f"{pad}  = {child.tail.strip()!r}"


def _decoded_body(content: bytes, encoding: str, max_bytes: int) -> bytes:
    inflater = BoundedInflater(encoding, max_bytes=max_bytes)
    inflater.feed(content)
    return inflater.finish()


def _same_address(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.casefold() == b.casefold()


# --- recording -------------------------------------------------------------------


class _Recorder:
    """The shared half of the sync and async recording transports."""

    def __init__(
        self,
        directory: str | Path,
        *,
        name: str,
        rules: ScrubRules | None,
        overwrite: bool,
        max_body_bytes: int,
    ) -> None:
        checked: object = name
        if not isinstance(checked, str) or not re.fullmatch(
            r"[A-Za-z0-9_.-]+", checked
        ):
            raise ValueError("name must be letters, digits, '_', '.' or '-'")
        if max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be positive")
        self.directory = Path(directory)
        self.name = name
        self.scrubber = Scrubber(rules)
        self.overwrite = overwrite
        self.max_body_bytes = max_body_bytes
        self._sequence = 0
        self._lock = threading.Lock()

    def record(
        self, request: httpx.Request, raw_response: bytes, response: httpx.Response
    ) -> None:
        request_body = _decoded_body(
            request.content,
            request.headers.get("content-encoding", ""),
            self.max_body_bytes,
        )
        response_body = _decoded_body(
            raw_response,
            response.headers.get("content-encoding", ""),
            self.max_body_bytes,
        )
        try:
            inspected: _Inspected | None = _inspect(request_body)
        except ResponseDecodeError:
            inspected = None
        operation = inspected.operation if inspected else UNKNOWN_OPERATION

        with self._lock:
            self._sequence += 1
            sequence = self._sequence
            case = f"{self.name}-{sequence:03d}"
            folder = self.directory / operation
            paths = [
                folder / f"{case}.{suffix}"
                for suffix in ("request.xml", "response.xml", "meta.json")
            ]
            if not self.overwrite:
                for path in paths:
                    if path.exists():
                        raise FileExistsError(f"{path} exists; pass overwrite=True")

            request_xml = self._scrub_body(request_body)
            response_xml, response_is_xml = self._scrub_response(response_body)
            mailbox = inspected.mailbox if inspected else None
            anchor = request.headers.get("x-anchormailbox")
            meta = {
                "format": META_FORMAT,
                "recording": self.name,
                "sequence": sequence,
                "operation": operation,
                "status_code": response.status_code,
                "mailbox": self.scrubber.mailbox(mailbox) if mailbox else None,
                "anchor_mailbox": self.scrubber.mailbox(anchor) if anchor else None,
                "response_is_xml": response_is_xml,
                "request_headers": self._headers(
                    request.headers, RECORDED_REQUEST_HEADERS
                ),
                "response_headers": self._headers(
                    response.headers, RECORDED_RESPONSE_HEADERS
                ),
            }

            folder.mkdir(parents=True, exist_ok=True)
            paths[0].write_bytes(request_xml)
            paths[1].write_bytes(response_xml)
            paths[2].write_text(
                json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )

    def _scrub_body(self, body: bytes) -> bytes:
        try:
            return self.scrubber.xml(body, max_bytes=self.max_body_bytes)
        except ResponseDecodeError:
            return self.scrubber.text(body.decode("utf-8", "replace")).encode()

    def _scrub_response(self, body: bytes) -> tuple[bytes, bool]:
        try:
            return self.scrubber.xml(body, max_bytes=self.max_body_bytes), True
        except ResponseDecodeError:
            return self.scrubber.text(body.decode("utf-8", "replace")).encode(), False

    def _headers(
        self, headers: httpx.Headers, allowed: frozenset[str]
    ) -> dict[str, str]:
        return {
            name: self._header_value(name, value)
            for name, value in sorted(
                (key.lower(), value) for key, value in headers.items()
            )
            if name in allowed
        }

    def _header_value(self, name: str, value: str) -> str:
        if name == "x-anchormailbox":
            return self.scrubber.mailbox(value)
        return self.scrubber.text(value)

    def copy_response(self, response: httpx.Response, raw: bytes) -> httpx.Response:
        """A fresh response carrying the exact bytes the server sent."""
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers,
            content=raw,
            request=response.request if _has_request(response) else None,
            extensions=response.extensions,
        )


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - property raises when unset
    except RuntimeError:
        return False
    return True


def _preloaded_raw(response: httpx.Response) -> bytes | None:
    """The undecoded body of a response built from bytes (MockTransport...).

    Such a response was read at construction, so ``iter_raw`` refuses; its
    in-memory stream still holds the bytes as sent, before any decoding.
    """
    if not response.is_stream_consumed:
        return None
    if isinstance(response.stream, httpx.ByteStream):
        return b"".join(response.stream)
    raise RuntimeError("the wrapped transport returned an already consumed stream")


class _SizeLimit:
    """Counts body chunks as they arrive so an endless body stops at the cap."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._seen = 0

    def check(self, chunk: bytes) -> bytes:
        self._seen += len(chunk)
        if self._seen > self._max:
            raise ResponseDecodeError(f"response body exceeds {self._max} bytes")
        return chunk


class RecordingTransport(httpx.BaseTransport):
    """Pass requests to ``transport`` and write each exchange to ``directory``.

    Files land in ``<directory>/<Operation>/<name>-NNN.request.xml``,
    ``.response.xml`` and ``.meta.json``, numbered in the order the exchanges
    completed.  Compressed bodies are inflated first; both bodies go through
    one :class:`Scrubber`, so fakes agree across the whole recording.  The
    caller still gets the server's response byte for byte.

    Args:
        transport: The transport that really talks to the server.
        directory: Where the fixture files go.
        name: Prefix of the case names.
        rules: What to scrub besides credentials; default :class:`ScrubRules`.
        overwrite: Replace existing files instead of raising.
        max_body_bytes: Cap on a (decoded) body, as the real transport has.

    Raises:
        ValueError: ``name`` is not a plain file-name word.
        FileExistsError: (while recording) a target file exists and
            ``overwrite`` is false.

    Warning:
        Scrubbing is rule-based, not proof.  Read a new recording before you
        commit it; ``tests/fixtures/test_fixtures.py`` scans committed
        fixtures as a second line of defence.
    """

    def __init__(
        self,
        transport: httpx.BaseTransport,
        directory: str | Path,
        *,
        name: str = "recording",
        rules: ScrubRules | None = None,
        overwrite: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._transport = transport
        self._recorder = _Recorder(
            directory,
            name=name,
            rules=rules,
            overwrite=overwrite,
            max_body_bytes=max_body_bytes,
        )

    @property
    def scrubber(self) -> Scrubber:
        """The scrubber of this session (its ``address_map`` holds real data)."""
        return self._recorder.scrubber

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send, record, and return an equivalent response."""
        request.read()
        response = self._transport.handle_request(request)
        try:
            raw = _preloaded_raw(response)
            if raw is None:
                limit = _SizeLimit(self._recorder.max_body_bytes)
                raw = b"".join(limit.check(chunk) for chunk in response.iter_raw())
        finally:
            response.close()
        _SizeLimit(self._recorder.max_body_bytes).check(raw)

        self._recorder.record(request, raw, response)

        return self._recorder.copy_response(response, raw)

    def close(self) -> None:
        """Close the wrapped transport."""
        self._transport.close()


class AsyncRecordingTransport(httpx.AsyncBaseTransport):
    """The :class:`RecordingTransport` for :class:`httpx.AsyncClient`.

    Same arguments, with an :class:`httpx.AsyncBaseTransport` to wrap.
    """

    # Limitation: fixture files are written with blocking I/O inside the event
    # loop.  A recording session stalls other tasks for the few milliseconds a
    # write takes; it is a test tool, so nothing meanwhile.

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport,
        directory: str | Path,
        *,
        name: str = "recording",
        rules: ScrubRules | None = None,
        overwrite: bool = False,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._transport = transport
        self._recorder = _Recorder(
            directory,
            name=name,
            rules=rules,
            overwrite=overwrite,
            max_body_bytes=max_body_bytes,
        )

    @property
    def scrubber(self) -> Scrubber:
        """The scrubber of this session (its ``address_map`` holds real data)."""
        return self._recorder.scrubber

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send, record, and return an equivalent response."""
        await request.aread()
        response = await self._transport.handle_async_request(request)
        try:
            raw = _preloaded_raw(response)
            if raw is None:
                limit = _SizeLimit(self._recorder.max_body_bytes)
                raw = b"".join(
                    [limit.check(chunk) async for chunk in response.aiter_raw()]
                )
        finally:
            await response.aclose()
        _SizeLimit(self._recorder.max_body_bytes).check(raw)

        self._recorder.record(request, raw, response)

        return self._recorder.copy_response(response, raw)

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._transport.aclose()


# --- replay ------------------------------------------------------------------------


class ReplayMatch(Enum):
    """How a replay picks the recorded exchange for an incoming request."""

    #: The next unused exchange, whatever the request; then it is checked.
    IN_ORDER = "in_order"
    #: The first unused exchange with the same operation, mailbox and body.
    BY_REQUEST = "by_request"


class ReplayMismatchError(AssertionError):
    """The code under test sent a request the recording does not expect.

    An ``AssertionError``, so test runners report it as a failure and the
    transport layer never mistakes it for a network error to retry.

    Attributes:
        operation: The operation of the request that was sent.
        mailbox: The mailbox it impersonated.
        expected: The recorded exchange it was compared with, if any.
        diff: A unified diff, recorded versus sent, of the two envelopes.
    """

    def __init__(
        self,
        reason: str,
        *,
        operation: str | None,
        mailbox: str | None,
        expected: RecordedExchange | None = None,
        diff: str = "",
    ) -> None:
        where = f"{operation or 'unparseable'} request for mailbox {mailbox or '-'}"
        message = f"unexpected {where}: {reason}"
        if expected is not None:
            message += (
                f"\nrecorded: {expected.label} ({expected.operation}) for mailbox "
                f"{expected.mailbox or '-'}"
            )
        if diff:
            message += "\n" + diff
        super().__init__(message)
        self.operation = operation
        self.mailbox = mailbox
        self.expected = expected
        self.diff = diff


class _Replayer:
    """The shared half of the sync and async replay transports."""

    def __init__(
        self,
        exchanges: Iterable[RecordedExchange],
        *,
        match: ReplayMatch,
        compare_bodies: bool,
    ) -> None:
        self.exchanges = list(exchanges)
        if not all(isinstance(e, RecordedExchange) for e in self.exchanges):
            raise TypeError("exchanges must be RecordedExchange objects")
        self.match = ReplayMatch(match)
        self.compare_bodies = compare_bodies
        self._used = [False] * len(self.exchanges)
        self._outlines: dict[int, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def pending(self) -> tuple[RecordedExchange, ...]:
        with self._lock:
            return tuple(
                e
                for e, used in zip(self.exchanges, self._used, strict=True)
                if not used
            )

    def serve(self, request: httpx.Request) -> httpx.Response:
        try:
            body = _decoded_body(
                request.content,
                request.headers.get("content-encoding", ""),
                DEFAULT_MAX_BODY_BYTES,
            )
            sent = _inspect(body)
        except ResponseDecodeError as exc:
            raise ReplayMismatchError(
                f"the request is not a SOAP envelope ({exc.message})",
                operation=None,
                mailbox=None,
            ) from exc
        anchor = request.headers.get("x-anchormailbox")

        with self._lock:
            index = self._pick(sent)
            exchange = self.exchanges[index]
            self._check(sent, anchor, exchange, index)
            self._used[index] = True

        return httpx.Response(
            status_code=exchange.status_code,
            headers=dict(exchange.response_headers),
            content=exchange.response,
            request=request,
        )

    def _outline(self, index: int) -> tuple[str, ...]:
        outline = self._outlines.get(index)
        if outline is None:
            try:
                outline = _inspect(self.exchanges[index].request).normalized
            except ResponseDecodeError:
                # A recorded request that was not SOAP matches nothing.
                outline = ()
            self._outlines[index] = outline
        return outline

    def _pick(self, sent: _Inspected) -> int:
        unused = [i for i, used in enumerate(self._used) if not used]
        if not unused:
            raise ReplayMismatchError(
                f"all {len(self.exchanges)} recorded exchanges were already served",
                operation=sent.operation,
                mailbox=sent.mailbox,
            )
        if self.match is ReplayMatch.IN_ORDER:
            return unused[0]

        for index in unused:
            exchange = self.exchanges[index]
            if (
                exchange.operation == sent.operation
                and _same_address(exchange.mailbox, sent.mailbox)
                and self._outline(index) == sent.normalized
            ):
                return index
        closest = next(
            (i for i in unused if self.exchanges[i].operation == sent.operation),
            unused[0],
        )
        raise ReplayMismatchError(
            "no unused recorded exchange has this operation, mailbox and body",
            operation=sent.operation,
            mailbox=sent.mailbox,
            expected=self.exchanges[closest],
            diff=self._diff(closest, sent),
        )

    def _check(
        self,
        sent: _Inspected,
        anchor: str | None,
        exchange: RecordedExchange,
        index: int,
    ) -> None:
        reasons = []
        if sent.operation != exchange.operation:
            reasons.append(f"expected operation {exchange.operation}")
        if not _same_address(sent.mailbox, exchange.mailbox):
            reasons.append(f"expected mailbox {exchange.mailbox or '-'}")
        if exchange.anchor_mailbox is not None and not _same_address(
            anchor, exchange.anchor_mailbox
        ):
            reasons.append(
                f"expected X-AnchorMailbox {exchange.anchor_mailbox}, "
                f"got {anchor or 'none'}"
            )
        if (
            not reasons
            and self.compare_bodies
            and self._outline(index) != sent.normalized
        ):
            reasons.append("the envelope differs from the recording")
        if reasons:
            raise ReplayMismatchError(
                "; ".join(reasons),
                operation=sent.operation,
                mailbox=sent.mailbox,
                expected=exchange,
                diff=self._diff(index, sent),
            )

    def _diff(self, index: int, sent: _Inspected) -> str:
        recorded = self._outline(index)
        lines = list(
            difflib.unified_diff(
                recorded, sent.normalized, "recorded", "sent", n=2, lineterm=""
            )
        )
        if len(lines) > _DIFF_LINES:
            hidden = len(lines) - _DIFF_LINES
            lines = [*lines[:_DIFF_LINES], f"... {hidden} more diff lines"]
        return "\n".join(lines)

    def assert_all_used(self) -> None:
        pending = self.pending()
        if pending:
            names = ", ".join(e.label for e in pending)
            raise ReplayMismatchError(
                f"{len(pending)} recorded exchanges were never requested: {names}",
                operation=None,
                mailbox=None,
            )


class ReplayTransport(httpx.BaseTransport):
    """Serve recorded exchanges back to an :class:`httpx.Client`.

    Every request is checked against the recording before anything is
    served: its operation, its impersonated mailbox and its
    ``X-AnchorMailbox`` header must match, and with ``compare_bodies=True``
    (always, under :attr:`ReplayMatch.BY_REQUEST`) the whole envelope too,
    compared by namespace URI with blank text ignored.

    Args:
        exchanges: The exchanges to serve, e.g. from :func:`load_recording`
            or :meth:`RecordedExchange.load`.
        match: Serve in order, or pick by request content.
        compare_bodies: In order mode, also require identical envelopes.

    Raises:
        TypeError: An item of ``exchanges`` is not a :class:`RecordedExchange`.
        ReplayMismatchError: (per request) the request is not the one
            recorded, or nothing is left to serve.
    """

    def __init__(
        self,
        exchanges: Iterable[RecordedExchange],
        *,
        match: ReplayMatch = ReplayMatch.IN_ORDER,
        compare_bodies: bool = False,
    ) -> None:
        self._replayer = _Replayer(
            exchanges, match=match, compare_bodies=compare_bodies
        )

    @classmethod
    def from_directory(
        cls,
        directory: str | Path,
        *,
        recording: str | None = None,
        match: ReplayMatch = ReplayMatch.IN_ORDER,
        compare_bodies: bool = False,
    ) -> ReplayTransport:
        """Replay what a :class:`RecordingTransport` wrote to ``directory``."""
        return cls(
            load_recording(directory, recording=recording),
            match=match,
            compare_bodies=compare_bodies,
        )

    @property
    def pending(self) -> Sequence[RecordedExchange]:
        """Recorded exchanges not served yet."""
        return self._replayer.pending()

    def assert_all_used(self) -> None:
        """Raise :class:`ReplayMismatchError` if some exchange was never asked for."""
        self._replayer.assert_all_used()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Check the request against the recording and serve the response."""
        request.read()
        return self._replayer.serve(request)


class AsyncReplayTransport(httpx.AsyncBaseTransport):
    """The :class:`ReplayTransport` for :class:`httpx.AsyncClient`."""

    def __init__(
        self,
        exchanges: Iterable[RecordedExchange],
        *,
        match: ReplayMatch = ReplayMatch.IN_ORDER,
        compare_bodies: bool = False,
    ) -> None:
        self._replayer = _Replayer(
            exchanges, match=match, compare_bodies=compare_bodies
        )

    @classmethod
    def from_directory(
        cls,
        directory: str | Path,
        *,
        recording: str | None = None,
        match: ReplayMatch = ReplayMatch.IN_ORDER,
        compare_bodies: bool = False,
    ) -> AsyncReplayTransport:
        """Replay what a recording transport wrote to ``directory``."""
        return cls(
            load_recording(directory, recording=recording),
            match=match,
            compare_bodies=compare_bodies,
        )

    @property
    def pending(self) -> Sequence[RecordedExchange]:
        """Recorded exchanges not served yet."""
        return self._replayer.pending()

    def assert_all_used(self) -> None:
        """Raise :class:`ReplayMismatchError` if some exchange was never asked for."""
        self._replayer.assert_all_used()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check the request against the recording and serve the response."""
        await request.aread()
        return self._replayer.serve(request)
