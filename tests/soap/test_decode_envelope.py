"""Response decoding: prefixes never matter, faults become typed errors."""

from __future__ import annotations

import pytest
from lxml import etree

from crm_ews._soap import (
    DecodedResponse,
    ResponseMessage,
    decode_envelope,
    m,
    response_messages,
    t,
)
from crm_ews.errors import (
    AccessDeniedError,
    EditConflictError,
    EWSError,
    InvalidRequestError,
    ItemNotFoundError,
    MailboxNotFoundError,
    ResponseDecodeError,
    RetryLaterError,
    ThrottledError,
)
from tests.soap._builders import (
    MESSAGES_NS,
    TYPES_NS,
    envelope,
    fault,
    get_folder_response,
    server_version_info,
)

MAILBOX = "alice@example.com"


def _decode(data: bytes, operation: str = "GetFolder") -> DecodedResponse:
    return decode_envelope(data, operation=operation, mailbox=MAILBOX)


def _fault_error(data: bytes) -> EWSError:
    with pytest.raises(EWSError) as info:
        _decode(data)
    return info.value


# --- prefixes ---------------------------------------------------------------


@pytest.mark.parametrize("soap_prefix", ["s", "soap", "SOAP-ENV", ""])
@pytest.mark.parametrize(
    ("m_prefix", "t_prefix"),
    [("m", "t"), ("", "t"), ("m", ""), ("msg", "typ"), ("t", "m")],
)
def test_decoding_ignores_prefixes(
    soap_prefix: str, m_prefix: str, t_prefix: str
) -> None:
    """Any prefixes, default namespaces, even swapped m/t, decode the same."""
    data = envelope(
        get_folder_response(m_prefix=m_prefix, t_prefix=t_prefix),
        header=server_version_info(prefix=t_prefix or "h"),
        soap_prefix=soap_prefix,
    )

    decoded = _decode(data)

    assert decoded.element.tag == m("GetFolderResponse")
    folder_id = decoded.element.find(f".//{t('FolderId')}")
    assert folder_id is not None
    assert folder_id.get("Id") == "AQMkAD0="
    assert decoded.server_version is not None
    assert decoded.server_version.version == "V2017_07_11"


def test_familiar_prefix_on_a_foreign_namespace_is_not_accepted() -> None:
    """An ``m:`` prefix bound to another namespace is not the messages ns."""
    body = get_folder_response().replace(MESSAGES_NS, "urn:example:not-ews")

    with pytest.raises(ResponseDecodeError, match="expected GetFolderResponse"):
        _decode(envelope(body))


def test_server_version_info_is_read_from_the_header() -> None:
    """All five ServerVersionInfo attributes are exposed as typed fields."""
    data = envelope(get_folder_response(), header=server_version_info())

    info = _decode(data).server_version

    assert info is not None
    assert (info.major, info.minor, info.build, info.revision) == (15, 2, 1544, 4)
    assert info.version == "V2017_07_11"


def test_missing_header_gives_no_server_version() -> None:
    """Without a SOAP Header the server version is None, not an error."""
    assert _decode(envelope(get_folder_response())).server_version is None


def test_non_numeric_version_numbers_become_none() -> None:
    """A garbled build number is dropped rather than raised as ValueError."""
    data = envelope(
        get_folder_response(),
        header=server_version_info(MajorBuildNumber="x12", MinorVersion=""),
    )

    info = _decode(data).server_version

    assert info is not None
    assert info.build is None
    assert info.minor is None
    assert info.major == 15


def test_unexpected_operation_response_is_refused() -> None:
    """A GetFolderResponse to a GetItem call is a decode error with context."""
    with pytest.raises(ResponseDecodeError) as info:
        _decode(envelope(get_folder_response()), operation="GetItem")

    assert info.value.operation == "GetItem"
    assert info.value.mailbox == MAILBOX
    assert "GetFolderResponse" in str(info.value)


def test_unknown_elements_are_tolerated() -> None:
    """Extra headers and unknown elements inside the response are ignored."""
    header = (
        server_version_info()
        + '<x:Trace xmlns:x="urn:example:trace">abc</x:Trace>'
        + f'<t:FutureHeader xmlns:t="{TYPES_NS}"/>'
    )
    body = get_folder_response().replace(
        "<t:DisplayName>",
        "<t:SomethingNew><t:Nested>1</t:Nested></t:SomethingNew><t:DisplayName>",
    )

    decoded = _decode(envelope(body, header=header))

    assert decoded.element.find(f".//{t('SomethingNew')}") is not None
    assert decoded.server_version is not None


# --- faults -------------------------------------------------------------------

SERVER_BUSY_XML = '<t:Value Name="BackOffMilliseconds">297749</t:Value>'
SCHEMA_XML = (
    "<t:LineNumber>2</t:LineNumber><t:LinePosition>630</t:LinePosition>"
    "<t:Violation>The element 'ItemShape' has invalid child element 'Bogus'."
    "</t:Violation>"
)


@pytest.mark.parametrize("soap_prefix", ["s", "soap", ""])
@pytest.mark.parametrize("e_prefix", ["e", "err", ""])
def test_server_busy_fault_is_throttled_with_back_off_seconds(
    soap_prefix: str, e_prefix: str
) -> None:
    """ErrorServerBusy becomes ThrottledError; BackOffMilliseconds -> seconds."""
    data = fault(
        "ErrorServerBusy",
        message="The server cannot service this request right now.",
        message_xml=SERVER_BUSY_XML,
        soap_prefix=soap_prefix,
        e_prefix=e_prefix,
    )

    error = _fault_error(data)

    assert type(error) is ThrottledError
    assert isinstance(error, RetryLaterError)
    assert error.back_off == pytest.approx(297.749)
    assert error.response_code == "ErrorServerBusy"
    assert error.details == {"BackOffMilliseconds": "297749"}
    assert error.operation == "GetFolder"
    assert error.mailbox == MAILBOX
    assert error.message_text == "The server cannot service this request right now."


def test_server_busy_without_hint_has_no_back_off() -> None:
    """A busy fault with no MessageXml is throttled with back_off None."""
    error = _fault_error(fault("ErrorServerBusy"))

    assert isinstance(error, ThrottledError)
    assert error.back_off is None


def test_impersonation_denied_fault_is_access_denied() -> None:
    """ErrorImpersonateUserDenied means fix rights: AccessDeniedError."""
    error = _fault_error(fault("ErrorImpersonateUserDenied"))

    assert type(error) is AccessDeniedError
    assert error.response_code == "ErrorImpersonateUserDenied"


def test_non_existent_mailbox_fault_is_mailbox_not_found() -> None:
    """ErrorNonExistentMailbox is a MailboxNotFoundError (an AccessDeniedError)."""
    error = _fault_error(fault("ErrorNonExistentMailbox"))

    assert type(error) is MailboxNotFoundError
    assert isinstance(error, AccessDeniedError)


def test_schema_validation_fault_carries_line_and_position() -> None:
    """ErrorSchemaValidation is InvalidRequestError with line/position details."""
    error = _fault_error(
        fault(
            "ErrorSchemaValidation",
            message="The request failed schema validation.",
            message_xml=SCHEMA_XML,
        )
    )

    assert type(error) is InvalidRequestError
    assert error.details["LineNumber"] == "2"
    assert error.details["LinePosition"] == "630"
    assert "Bogus" in error.details["Violation"]


def test_invalid_server_version_fault_is_invalid_request() -> None:
    """ErrorInvalidServerVersion is our bug or config: InvalidRequestError."""
    error = _fault_error(fault("ErrorInvalidServerVersion"))

    assert type(error) is InvalidRequestError
    assert error.response_code == "ErrorInvalidServerVersion"


def test_unknown_code_is_a_plain_ews_error_keeping_the_code() -> None:
    """A code missing from the table is EWSError with the raw code kept."""
    error = _fault_error(fault("ErrorSomethingIntroducedNextYear"))

    assert type(error) is EWSError
    assert error.response_code == "ErrorSomethingIntroducedNextYear"
    assert str(error).startswith("ErrorSomethingIntroducedNextYear: ")


def test_fault_without_detail_uses_the_faultcode() -> None:
    """With no detail, the qualified faultcode's local part is the code."""
    error = _fault_error(fault("ErrorServerBusy", message="Busy.", with_detail=False))

    assert isinstance(error, ThrottledError)
    assert error.message_text == "Busy."
    assert error.details == {}


def test_generic_soap_fault_is_a_plain_ews_error() -> None:
    """A ``s:Client`` fault without detail keeps ``Client`` as its code."""
    error = _fault_error(
        fault(None, faultcode="s:Client", message="Bad.", with_detail=False)
    )

    assert type(error) is EWSError
    assert error.response_code == "Client"
    assert error.message_text == "Bad."


def test_fault_with_nothing_in_it_still_decodes_to_an_error() -> None:
    """An empty Fault becomes EWSError with a stand-in code, not a crash."""
    error = _fault_error(envelope("<s:Fault/>"))

    assert type(error) is EWSError
    assert error.response_code == "ErrorUnknownSoapFault"


def test_detail_without_response_code_falls_back_to_faultcode() -> None:
    """A detail lacking e:ResponseCode still maps through the faultcode."""
    error = _fault_error(fault(None, faultcode="a:ErrorNonExistentMailbox"))

    assert isinstance(error, MailboxNotFoundError)


def test_blank_response_code_falls_back_to_faultcode() -> None:
    """A blank e:ResponseCode is treated as missing and the faultcode wins."""
    error = _fault_error(fault("  ", faultcode="a:ErrorServerBusy"))

    assert isinstance(error, ThrottledError)


def test_fault_message_does_not_leak_the_body() -> None:
    """The exception text is one trimmed line, not the whole fault body."""
    long_text = "first line\n" + "x" * 2000
    error = _fault_error(fault("ErrorInvalidRequest", message=long_text))

    assert str(error.message) == "first line"
    assert "xxxx" not in str(error)


# --- response messages ---------------------------------------------------------


def _get_item_response(messages: str) -> bytes:
    return envelope(
        f'<m:GetItemResponse xmlns:m="{MESSAGES_NS}" xmlns:t="{TYPES_NS}">'
        f"<m:ResponseMessages>{messages}</m:ResponseMessages>"
        "</m:GetItemResponse>"
    )


def _messages(messages: str) -> list[ResponseMessage]:
    decoded = _decode(_get_item_response(messages), operation="GetItem")
    return response_messages(decoded.element, operation="GetItem", mailbox=MAILBOX)


THREE_MESSAGES = (
    '<m:GetItemResponseMessage ResponseClass="Success">'
    "<m:ResponseCode>NoError</m:ResponseCode>"
    '<m:Items><t:Contact><t:ItemId Id="AAA=" ChangeKey="BBB="/></t:Contact>'
    "</m:Items></m:GetItemResponseMessage>"
    '<m:GetItemResponseMessage ResponseClass="Warning">'
    "<m:MessageText>Processing stopped.</m:MessageText>"
    "<m:ResponseCode>ErrorBatchProcessingStopped</m:ResponseCode>"
    "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
    "<m:Items/></m:GetItemResponseMessage>"
    '<m:GetItemResponseMessage ResponseClass="Error">'
    "<m:MessageText>The specified object was not found in the store.</m:MessageText>"
    "<m:ResponseCode>ErrorItemNotFound</m:ResponseCode>"
    "<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>"
    '<m:MessageXml><t:Value Name="InnerErrorMessageText">gone</t:Value>'
    "<t:ExceptionType>ObjectNotFoundException</t:ExceptionType></m:MessageXml>"
    "<m:Items/></m:GetItemResponseMessage>"
)


def test_response_messages_keep_request_order_and_classes() -> None:
    """One entry per request item, in order, with class and code."""
    messages = _messages(THREE_MESSAGES)

    assert [(msg.response_class, msg.response_code) for msg in messages] == [
        ("Success", "NoError"),
        ("Warning", "ErrorBatchProcessingStopped"),
        ("Error", "ErrorItemNotFound"),
    ]
    assert [msg.is_error for msg in messages] == [False, False, True]


def test_response_message_exposes_its_element() -> None:
    """The element of a success message is there for the operation to parse."""
    first = _messages(THREE_MESSAGES)[0]

    assert first.element is not None
    assert first.element.find(f"{m('Items')}/{t('Contact')}") is not None
    assert first.message_text is None


def test_message_xml_becomes_details() -> None:
    """MessageXml flattens to Name/tag -> text pairs."""
    error_message = _messages(THREE_MESSAGES)[2]

    assert error_message.details == {
        "InnerErrorMessageText": "gone",
        "ExceptionType": "ObjectNotFoundException",
    }


def test_error_message_builds_the_typed_exception() -> None:
    """to_error maps the code and carries operation, mailbox and text."""
    error = _messages(THREE_MESSAGES)[2].to_error(operation="GetItem", mailbox=MAILBOX)

    assert type(error) is ItemNotFoundError
    assert error.operation == "GetItem"
    assert error.mailbox == MAILBOX
    assert error.message_text == "The specified object was not found in the store."
    assert error.details["ExceptionType"] == "ObjectNotFoundException"


def test_throttled_item_message_carries_back_off() -> None:
    """A per-item ErrorServerBusy also yields back_off in seconds."""
    messages = _messages(
        '<m:GetItemResponseMessage ResponseClass="Error">'
        "<m:ResponseCode>ErrorServerBusy</m:ResponseCode>"
        f"<m:MessageXml>{SERVER_BUSY_XML}</m:MessageXml>"
        "</m:GetItemResponseMessage>"
    )

    error = messages[0].to_error(operation="GetItem", mailbox=MAILBOX)

    assert isinstance(error, ThrottledError)
    assert error.back_off == pytest.approx(297.749)


def test_conflict_message_maps_to_edit_conflict() -> None:
    """ErrorIrresolvableConflict on an item is an EditConflictError."""
    messages = _messages(
        '<m:GetItemResponseMessage ResponseClass="Error">'
        "<m:ResponseCode>ErrorIrresolvableConflict</m:ResponseCode>"
        "</m:GetItemResponseMessage>"
    )

    assert isinstance(
        messages[0].to_error(operation=None, mailbox=None), EditConflictError
    )


def test_missing_codes_get_defaults() -> None:
    """No ResponseCode: Success means NoError, Error means ErrorUnknown."""
    messages = _messages(
        '<m:GetItemResponseMessage ResponseClass="Success"/>'
        '<m:GetItemResponseMessage ResponseClass="Error">'
        "<m:ResponseCode>   </m:ResponseCode></m:GetItemResponseMessage>"
    )

    assert [msg.response_code for msg in messages] == ["NoError", "ErrorUnknown"]


def test_missing_response_messages_is_a_decode_error() -> None:
    """A response without ResponseMessages cannot be split: decode error."""
    decoded = _decode(
        envelope(f'<m:GetItemResponse xmlns:m="{MESSAGES_NS}"/>'), operation="GetItem"
    )

    with pytest.raises(ResponseDecodeError, match="ResponseMessages") as info:
        response_messages(decoded.element, operation="GetItem", mailbox=MAILBOX)
    assert info.value.mailbox == MAILBOX


@pytest.mark.parametrize("attribute", ['ResponseClass="Fine"', ""])
def test_invalid_response_class_is_a_decode_error(attribute: str) -> None:
    """A message without a valid ResponseClass is refused, not guessed."""
    with pytest.raises(ResponseDecodeError, match="ResponseClass"):
        _messages(f"<m:GetItemResponseMessage {attribute}/>")


def test_comments_between_messages_are_not_messages() -> None:
    """Comments are dropped by the parser and never count as messages."""
    messages = _messages(
        "<!-- first -->"
        '<m:GetItemResponseMessage ResponseClass="Success"/>'
        "<!-- second -->"
    )

    assert len(messages) == 1
    assert isinstance(messages[0].element, etree._Element)
