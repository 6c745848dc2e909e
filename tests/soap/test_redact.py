"""Redaction of envelopes for the crm_ews.wire log."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from crm_ews._soap import Impersonation, build_envelope, m, t
from crm_ews._soap._redact import MASK, redact_envelope

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
E_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"

SYNC_RESPONSE = f"""<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="{SOAP_NS}">
  <s:Header>
    <h:ServerVersionInfo xmlns:h="{T_NS}" MajorVersion="15" MinorVersion="2"
        MajorBuildNumber="1544" MinorBuildNumber="4" Version="V2017_07_11"/>
  </s:Header>
  <s:Body>
    <m:SyncFolderItemsResponse xmlns:m="{M_NS}" xmlns:t="{T_NS}">
      <m:ResponseMessages>
        <m:SyncFolderItemsResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:SyncState>H4sIAAAAAAAEAO29B2AcSZYlJi9tynt</m:SyncState>
          <m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>
          <m:Changes>
            <t:Create>
              <t:CalendarItem>
                <t:ItemId Id="AAMkADAwATM=" ChangeKey="DwAAABYAAAA="/>
                <t:Subject>Salary review with Dana</t:Subject>
                <t:Body BodyType="HTML">&lt;p&gt;Dana asked for 20%&lt;/p&gt;</t:Body>
                <t:ItemClass>IPM.Appointment</t:ItemClass>
                <t:Location>Room 4</t:Location>
                <t:Organizer><t:Mailbox>
                  <t:Name>Dana Doe</t:Name>
                  <t:EmailAddress>dana@example.com</t:EmailAddress>
                </t:Mailbox></t:Organizer>
              </t:CalendarItem>
            </t:Create>
          </m:Changes>
        </m:SyncFolderItemsResponseMessage>
      </m:ResponseMessages>
    </m:SyncFolderItemsResponse>
  </s:Body>
</s:Envelope>""".encode()


def test_item_content_is_masked() -> None:
    """Subject, body, location, names and addresses never survive."""
    text = redact_envelope(SYNC_RESPONSE)

    for content in (
        "Salary review",
        "Dana asked",
        "Room 4",
        "Dana Doe",
        "dana@example.com",
        "H4sIAAAAAAAEAO29",
    ):
        assert content not in text
    assert text.count(MASK) >= 6


def test_outcome_and_structure_are_kept() -> None:
    """Response codes, classes, ids, version and counters stay readable."""
    text = redact_envelope(SYNC_RESPONSE)
    root = etree.fromstring(text.encode())

    message = root.find(f".//{m('SyncFolderItemsResponseMessage')}")
    item_id = root.find(f".//{t('ItemId')}")
    body = root.find(f".//{t('Body')}")
    assert message is not None
    assert message.get("ResponseClass") == "Success"
    assert root.findtext(f".//{m('ResponseCode')}") == "NoError"
    assert root.findtext(f".//{m('IncludesLastItemInRange')}") == "true"
    assert root.findtext(f".//{t('ItemClass')}") == "IPM.Appointment"
    assert item_id is not None
    assert item_id.get("Id") == "AAMkADAwATM="
    assert item_id.get("ChangeKey") == "DwAAABYAAAA="
    assert body is not None
    assert body.get("BodyType") == "HTML"
    assert 'Version="V2017_07_11"' in text


def test_impersonated_mailbox_is_kept_only_in_connecting_sid() -> None:
    """The ConnectingSID address stays; the same element elsewhere is masked."""
    request = etree.fromstring(
        f'<m:ResolveNames xmlns:m="{M_NS}" xmlns:t="{T_NS}">'
        f"<m:UnresolvedEntry>carol@example.com</m:UnresolvedEntry>"
        f"<t:PrimarySmtpAddress>carol@example.com</t:PrimarySmtpAddress>"
        f"</m:ResolveNames>"
    )
    envelope = build_envelope(request, impersonation=Impersonation("alice@example.com"))

    text = redact_envelope(envelope)

    assert "alice@example.com" in text
    assert "carol@example.com" not in text


def test_restriction_values_in_attributes_are_masked() -> None:
    """Attribute values outside the allowlist (a search constant) are masked."""
    request = etree.fromstring(
        f'<m:FindItem xmlns:m="{M_NS}" xmlns:t="{T_NS}" Traversal="Shallow">'
        f'<m:Restriction><t:IsEqualTo><t:FieldURI FieldURI="item:Subject"/>'
        f'<t:FieldURIOrConstant><t:Constant Value="Merger with Initech"/>'
        f"</t:FieldURIOrConstant></t:IsEqualTo></m:Restriction></m:FindItem>"
    )

    text = redact_envelope(build_envelope(request, impersonation=None))

    assert "Initech" not in text
    assert 'FieldURI="item:Subject"' in text
    assert 'Traversal="Shallow"' in text
    assert f'Value="{MASK}"' in text


def test_fault_text_is_masked_but_code_kept() -> None:
    """faultstring and Message may quote request data: masked; codes kept."""
    fault = (
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body><s:Fault>'
        "<faultcode>a:ErrorSchemaValidation</faultcode>"
        "<faultstring>The value 'Secret project X' is invalid</faultstring>"
        f'<detail><e:ResponseCode xmlns:e="{E_NS}">ErrorSchemaValidation'
        f'</e:ResponseCode><e:Message xmlns:e="{E_NS}">Secret project X</e:Message>'
        f'<t:MessageXml xmlns:t="{T_NS}">'
        '<t:Value Name="BackOffMilliseconds">2500</t:Value>'
        '<t:Value Name="Policy">Secret project X</t:Value>'
        '<t:Value Name="Note">Secret project X</t:Value>'
        "</t:MessageXml></detail></s:Fault></s:Body></s:Envelope>"
    ).encode()

    text = redact_envelope(fault)

    assert text.count("Secret project X") == 1
    assert "ErrorSchemaValidation" in text
    assert ">2500<" in text


def test_message_text_is_masked() -> None:
    """MessageText in a response message is masked."""
    response = (
        f'<s:Envelope xmlns:s="{SOAP_NS}"><s:Body>'
        f'<m:GetItemResponse xmlns:m="{M_NS}"><m:ResponseMessages>'
        '<m:GetItemResponseMessage ResponseClass="Error">'
        "<m:MessageText>Item 'Board minutes' not found</m:MessageText>"
        "<m:ResponseCode>ErrorItemNotFound</m:ResponseCode>"
        "</m:GetItemResponseMessage></m:ResponseMessages></m:GetItemResponse>"
        "</s:Body></s:Envelope>"
    ).encode()

    text = redact_envelope(response)

    assert "Board minutes" not in text
    assert "ErrorItemNotFound" in text
    assert 'ResponseClass="Error"' in text


def test_non_xml_bodies_become_a_placeholder() -> None:
    """An HTML page or garbage is never echoed, only its size."""
    page = b"<html><body>Internal details <br></body></html>"

    assert redact_envelope(page) == f"<non-XML body: {len(page)} bytes>"
    assert redact_envelope(b"") == "<non-XML body: 0 bytes>"


def test_hostile_documents_are_not_expanded() -> None:
    """A DOCTYPE with entities is refused by the hardened parser, not expanded."""
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "secretsecret">]><x>&a;&a;</x>'
    )

    text = redact_envelope(bomb)

    assert "secretsecret" not in text
    assert text.startswith("<non-XML body")


def test_oversized_bodies_are_not_parsed() -> None:
    """Bodies over max_bytes get the placeholder."""
    assert redact_envelope(SYNC_RESPONSE, max_bytes=100).startswith("<non-XML body")


@given(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
        min_size=3,
        max_size=40,
    ).filter(lambda s: s.strip() and s.strip() not in ("NoError", "true", MASK))
)
def test_any_subject_text_is_masked(subject: str) -> None:
    """Whatever a subject holds, it does not appear in the redacted output."""
    item = etree.Element(t("CalendarItem"), nsmap={"t": T_NS})
    etree.SubElement(item, t("Subject")).text = subject
    items = etree.Element(m("Items"), nsmap={"m": M_NS})
    items.append(item)
    create = etree.Element(m("CreateItem"), nsmap={"m": M_NS})
    create.append(items)

    text = redact_envelope(build_envelope(create, impersonation=None))
    root = etree.fromstring(text.encode())

    assert root.findtext(f".//{t('Subject')}") == MASK
