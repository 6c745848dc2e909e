"""Request envelopes: header order, impersonation headers, schema validity."""

from __future__ import annotations

import dataclasses

import pytest
from lxml import etree

from crm_ews._soap import (
    ConnectingSIDKind,
    Impersonation,
    ServerVersion,
    build_envelope,
    m,
    parse_xml,
    soap,
    t,
)

SID = "S-1-5-21-1004336348-1177238915-682003330-512"

#: One well-shaped mailbox value per ConnectingSID child.
VALID_BY_KIND = {
    ConnectingSIDKind.PRIMARY_SMTP_ADDRESS: "alice@example.com",
    ConnectingSIDKind.SMTP_ADDRESS: "alice.alias@example.com",
    ConnectingSIDKind.PRINCIPAL_NAME: "alice@corp.example.com",
    ConnectingSIDKind.SID: SID,
}


def _get_folder() -> etree._Element:
    """A minimal schema-valid ``m:GetFolder`` body."""
    op = etree.Element(m("GetFolder"))
    shape = etree.SubElement(op, m("FolderShape"))
    etree.SubElement(shape, t("BaseShape")).text = "IdOnly"
    ids = etree.SubElement(op, m("FolderIds"))
    etree.SubElement(ids, t("DistinguishedFolderId")).set("Id", "calendar")
    return op


def _build(**kwargs: object) -> etree._Element:
    kwargs.setdefault("impersonation", Impersonation("alice@example.com"))
    data = build_envelope(_get_folder(), **kwargs)  # type: ignore[arg-type]
    return parse_xml(data)


def _header_names(envelope: etree._Element) -> list[str]:
    header = envelope.find(soap("Header"))
    assert header is not None
    return [etree.QName(child).localname for child in header]


def test_headers_come_in_fixed_order() -> None:
    """RequestServerVersion, ExchangeImpersonation, TimeZoneContext, in order."""
    envelope = _build(time_zone_id="W. Europe Standard Time")

    assert _header_names(envelope) == [
        "RequestServerVersion",
        "ExchangeImpersonation",
        "TimeZoneContext",
    ]


def test_optional_headers_are_left_out() -> None:
    """No impersonation and no time zone leave only RequestServerVersion."""
    envelope = _build(impersonation=None)

    assert _header_names(envelope) == ["RequestServerVersion"]


def test_envelope_shape_and_declaration() -> None:
    """UTF-8 with an XML declaration, SOAP 1.1 envelope, body holds the op."""
    data = build_envelope(_get_folder(), impersonation=None)
    root = parse_xml(data)
    body = root.find(soap("Body"))

    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert root.tag == soap("Envelope")
    assert body is not None
    assert [child.tag for child in body] == [m("GetFolder")]


def test_server_version_defaults_to_exchange2016() -> None:
    """The default RequestServerVersion is Exchange2016."""
    version = _build().find(f"{soap('Header')}/{t('RequestServerVersion')}")

    assert version is not None
    assert version.get("Version") == "Exchange2016"


@pytest.mark.parametrize("version", list(ServerVersion))
def test_server_version_is_sent_verbatim(version: ServerVersion) -> None:
    """Each ServerVersion member is written as its schema value."""
    header = _build(server_version=version).find(soap("Header"))

    assert header is not None
    assert header[0].get("Version") == version.value


def test_server_version_accepts_its_string_value() -> None:
    """A plain string naming a member is accepted and written unchanged."""
    header = _build(server_version="V2017_07_11").find(soap("Header"))

    assert header is not None
    assert header[0].get("Version") == "V2017_07_11"


def test_unknown_server_version_is_refused() -> None:
    """There is no Exchange2019 value; asking for it is a ValueError."""
    with pytest.raises(ValueError, match="Exchange2019"):
        build_envelope(
            _get_folder(),
            impersonation=None,
            server_version="Exchange2019",  # type: ignore[arg-type]
        )


@pytest.mark.parametrize("kind", list(ConnectingSIDKind))
def test_connecting_sid_has_exactly_one_child_per_kind(
    kind: ConnectingSIDKind,
) -> None:
    """ConnectingSID holds one child, named after the kind, with the mailbox."""
    mailbox = VALID_BY_KIND[kind]
    envelope = _build(impersonation=Impersonation(mailbox, kind))
    sid = envelope.find(
        f"{soap('Header')}/{t('ExchangeImpersonation')}/{t('ConnectingSID')}"
    )

    assert sid is not None
    assert [(child.tag, child.text) for child in sid] == [(t(kind.value), mailbox)]


def test_default_kind_is_primary_smtp_address() -> None:
    """Impersonation without a kind names the mailbox by PrimarySmtpAddress."""
    impersonation = Impersonation("alice@example.com")

    assert impersonation.kind is ConnectingSIDKind.PRIMARY_SMTP_ADDRESS
    assert impersonation.anchor == "alice@example.com"


def test_kind_given_as_string_becomes_the_enum() -> None:
    """A kind passed as its wire name is normalised to the enum member."""
    impersonation = Impersonation("alice@example.com", "SmtpAddress")  # type: ignore[arg-type]

    assert impersonation.kind is ConnectingSIDKind.SMTP_ADDRESS


def test_impersonation_is_immutable() -> None:
    """An Impersonation cannot be re-pointed at another mailbox after checks."""
    impersonation = Impersonation("alice@example.com")

    with pytest.raises(dataclasses.FrozenInstanceError):
        impersonation.mailbox = "mallory@example.com"  # type: ignore[misc]
    assert impersonation.mailbox == "alice@example.com"


def test_markup_in_mailbox_is_escaped_not_injected() -> None:
    """An ampersand or apostrophe in an address stays text, adds no elements."""
    mailbox = "o'neil&co@example.com"
    envelope = _build(impersonation=Impersonation(mailbox))
    sid = envelope.find(
        f"{soap('Header')}/{t('ExchangeImpersonation')}/{t('ConnectingSID')}"
    )

    assert sid is not None
    assert len(sid) == 1
    assert sid[0].text == mailbox


def test_time_zone_context_carries_the_id() -> None:
    """TimeZoneContext wraps a TimeZoneDefinition with the given Id."""
    envelope = _build(time_zone_id="Pacific Standard Time")
    definition = envelope.find(
        f"{soap('Header')}/{t('TimeZoneContext')}/{t('TimeZoneDefinition')}"
    )

    assert definition is not None
    assert definition.get("Id") == "Pacific Standard Time"


def test_body_element_is_moved_into_the_envelope() -> None:
    """The operation element passed in becomes the Body's child."""
    op = _get_folder()
    build_envelope(op, impersonation=None)

    parent = op.getparent()
    assert parent is not None
    assert parent.tag == soap("Body")


@pytest.mark.schema
@pytest.mark.parametrize("kind", list(ConnectingSIDKind))
def test_headers_and_body_validate_against_the_schema(
    ews_schema: etree.XMLSchema, kind: ConnectingSIDKind
) -> None:
    """Every header and the body child pass Microsoft's EWS schema."""
    envelope = _build(
        impersonation=Impersonation(VALID_BY_KIND[kind], kind),
        time_zone_id="W. Europe Standard Time",
        server_version=ServerVersion.V2017_07_11,
    )
    header = envelope.find(soap("Header"))
    body = envelope.find(soap("Body"))
    assert header is not None
    assert body is not None

    for element in [*header, body[0]]:
        assert ews_schema.validate(element), str(ews_schema.error_log)


# --- Impersonation validation ---------------------------------------------


@pytest.mark.parametrize(
    "mailbox",
    [
        "",
        " ",
        "\t",
        " alice@example.com",
        "alice@example.com ",
        "alice@exam ple.com",
        "alice@example.com\n",
        "alice\r\n@example.com",
        "alice\x00@example.com",
        "alice\x7f@example.com",
        "<alice@example.com>",
        'al"ice@example.com',
    ],
)
def test_blank_or_unsafe_mailbox_is_refused(mailbox: str) -> None:
    """Empty values, whitespace, control characters and markup are refused."""
    with pytest.raises(ValueError, match="mailbox"):
        Impersonation(mailbox)


@pytest.mark.parametrize("mailbox", [None, b"alice@example.com", 42, ["a@b.c"]])
def test_non_string_mailbox_is_a_type_error(mailbox: object) -> None:
    """Anything but a str is a TypeError naming the type received."""
    with pytest.raises(TypeError, match=type(mailbox).__name__):
        Impersonation(mailbox)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "mailbox"),
    [
        (ConnectingSIDKind.PRIMARY_SMTP_ADDRESS, "alice"),
        (ConnectingSIDKind.PRIMARY_SMTP_ADDRESS, "alice@"),
        (ConnectingSIDKind.PRIMARY_SMTP_ADDRESS, "@example.com"),
        (ConnectingSIDKind.PRIMARY_SMTP_ADDRESS, SID),
        (ConnectingSIDKind.SMTP_ADDRESS, "alice"),
        (ConnectingSIDKind.SMTP_ADDRESS, "@example.com"),
        (ConnectingSIDKind.PRINCIPAL_NAME, "alice@"),
        (ConnectingSIDKind.PRINCIPAL_NAME, "@corp.example.com"),
        (ConnectingSIDKind.SID, "alice@example.com"),
        (ConnectingSIDKind.SID, "S-1-"),
        (ConnectingSIDKind.SID, "S-1-5"),
        (ConnectingSIDKind.SID, "S-2-5-21-1"),
        (ConnectingSIDKind.SID, "S-1-5-21-abc"),
    ],
)
def test_mailbox_of_the_wrong_shape_for_its_kind_is_refused(
    kind: ConnectingSIDKind, mailbox: str
) -> None:
    """Each kind checks its own shape: addresses need local@domain, SIDs S-1-."""
    with pytest.raises(ValueError, match=r"example\.com|S-1-5-21"):
        Impersonation(mailbox, kind)


@pytest.mark.parametrize(
    ("kind", "mailbox"),
    [
        *VALID_BY_KIND.items(),
        (ConnectingSIDKind.SID, "S-1-5-18"),
        (ConnectingSIDKind.PRINCIPAL_NAME, "alice"),
    ],
)
def test_well_shaped_mailbox_is_kept_as_given(
    kind: ConnectingSIDKind, mailbox: str
) -> None:
    """A valid value is stored unchanged and is its own anchor."""
    impersonation = Impersonation(mailbox, kind)

    assert impersonation.mailbox == mailbox
    assert impersonation.anchor == mailbox


@pytest.mark.parametrize("kind", ["Email", "primarysmtpaddress", 3])
def test_unknown_kind_is_refused(kind: object) -> None:
    """A kind that is not a ConnectingSID child name is a ValueError."""
    with pytest.raises(ValueError, match="ConnectingSIDKind"):
        Impersonation("alice@example.com", kind)  # type: ignore[arg-type]
