"""Small values shared by items: mailboxes, attendees, bodies and the enums.

Each enum mirrors one simple type of the EWS schema (``types.xsd``); member
values are the wire spellings, member names are Python constants.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from lxml import etree
from pydantic import AwareDatetime, Field

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    EWSModel,
    format_datetime,
    new_element,
    parse_datetime,
    parse_enum,
    sub_element,
)

__all__ = [
    "Attendee",
    "Body",
    "BodyType",
    "Importance",
    "LegacyFreeBusyStatus",
    "Mailbox",
    "MailboxType",
    "ResponseType",
    "Sensitivity",
]


class BodyType(StrEnum):
    """The format of an item body (``BodyTypeType``)."""

    HTML = "HTML"
    TEXT = "Text"


class Sensitivity(StrEnum):
    """How private an item is (``SensitivityChoicesType``)."""

    NORMAL = "Normal"
    PERSONAL = "Personal"
    PRIVATE = "Private"
    CONFIDENTIAL = "Confidential"


class Importance(StrEnum):
    """An item's importance (``ImportanceChoicesType``)."""

    LOW = "Low"
    NORMAL = "Normal"
    HIGH = "High"


class LegacyFreeBusyStatus(StrEnum):
    """How an appointment shows in free/busy (``LegacyFreeBusyType``)."""

    FREE = "Free"
    TENTATIVE = "Tentative"
    BUSY = "Busy"
    OOF = "OOF"
    WORKING_ELSEWHERE = "WorkingElsewhere"
    NO_DATA = "NoData"


class ResponseType(StrEnum):
    """An attendee's answer to a meeting (``ResponseTypeType``)."""

    UNKNOWN = "Unknown"
    ORGANIZER = "Organizer"
    TENTATIVE = "Tentative"
    ACCEPT = "Accept"
    DECLINE = "Decline"
    NO_RESPONSE_RECEIVED = "NoResponseReceived"


class MailboxType(StrEnum):
    """What kind of address a mailbox is (``MailboxTypeType``)."""

    UNKNOWN = "Unknown"
    ONE_OFF = "OneOff"
    MAILBOX = "Mailbox"
    PUBLIC_DL = "PublicDL"
    PRIVATE_DL = "PrivateDL"
    CONTACT = "Contact"
    PUBLIC_FOLDER = "PublicFolder"
    GROUP_MAILBOX = "GroupMailbox"
    IMPLICIT_CONTACT = "ImplicitContact"
    USER = "User"


_NAME: Final = t("Name")
_EMAIL_ADDRESS: Final = t("EmailAddress")
_ROUTING_TYPE: Final = t("RoutingType")
_MAILBOX_TYPE: Final = t("MailboxType")
_MAILBOX: Final = t("Mailbox")
_RESPONSE_TYPE: Final = t("ResponseType")
_LAST_RESPONSE_TIME: Final = t("LastResponseTime")


class Mailbox(EWSModel):
    """An e-mail address with its display name (``EmailAddressType``).

    ``email_address`` is empty when the server could not resolve the
    recipient to an address (it then sends only a name).
    """

    email_address: Annotated[str, Field(alias="EmailAddress")]
    name: Annotated[str | None, Field(alias="Name")] = None
    routing_type: Annotated[str | None, Field(alias="RoutingType")] = "SMTP"
    mailbox_type: Annotated[MailboxType | None, Field(alias="MailboxType")] = None

    def to_xml(self, tag: str = "Mailbox") -> etree._Element:
        """Build ``t:Mailbox`` (or another ``EmailAddressType`` element)."""
        element = new_element(tag)
        self.fill(element)
        return element

    def fill(self, element: etree._Element) -> None:
        """Append this mailbox's children, in schema order, to ``element``."""
        if self.name is not None:
            sub_element(element, "Name", self.name)
        if self.email_address:
            sub_element(element, "EmailAddress", self.email_address)
        if self.routing_type:
            sub_element(element, "RoutingType", self.routing_type)
        if self.mailbox_type is not None:
            sub_element(element, "MailboxType", self.mailbox_type.value)

    @classmethod
    def from_xml(cls, element: etree._Element) -> Mailbox:
        """Read an ``EmailAddressType`` element; unknown children are skipped."""
        values: dict[str, Any] = {"email_address": "", "routing_type": None}
        for child in element:
            tag = child.tag
            if tag == _EMAIL_ADDRESS:
                values["email_address"] = child.text or ""
            elif tag == _NAME:
                values["name"] = child.text or ""
            elif tag == _ROUTING_TYPE:
                values["routing_type"] = child.text or None
            elif tag == _MAILBOX_TYPE:
                values["mailbox_type"] = parse_enum(
                    MailboxType, child.text, "MailboxType"
                )
        return cls._trusted(**values)


def recipient_from_xml(element: etree._Element) -> Mailbox:
    """Read a ``SingleRecipientType`` (a wrapper around one ``t:Mailbox``)."""
    for child in element:
        if child.tag == _MAILBOX:
            return Mailbox.from_xml(child)
    return Mailbox._trusted(email_address="", routing_type=None)


class Attendee(EWSModel):
    """A meeting attendee and their answer (``AttendeeType``)."""

    mailbox: Annotated[Mailbox, Field(alias="Mailbox")]
    response_type: Annotated[ResponseType | None, Field(alias="ResponseType")] = None
    last_response_time: Annotated[
        AwareDatetime | None, Field(alias="LastResponseTime")
    ] = None

    def to_xml(self, tag: str = "Attendee", *, full: bool = False) -> etree._Element:
        """Build ``t:Attendee``.

        The answer fields belong to the server and are left out unless
        ``full`` asks for a faithful copy.
        """
        element = new_element(tag)
        self.mailbox.fill(sub_element(element, "Mailbox"))
        if full and self.response_type is not None:
            sub_element(element, "ResponseType", self.response_type.value)
        if full and self.last_response_time is not None:
            sub_element(
                element, "LastResponseTime", format_datetime(self.last_response_time)
            )
        return element

    @classmethod
    def from_xml(cls, element: etree._Element) -> Attendee:
        """Read ``t:Attendee``; a missing ``t:Mailbox`` yields an empty one."""
        mailbox: Mailbox | None = None
        response_type: ResponseType | None = None
        last_response_time: datetime | None = None
        for child in element:
            tag = child.tag
            if tag == _MAILBOX:
                mailbox = Mailbox.from_xml(child)
            elif tag == _RESPONSE_TYPE:
                response_type = parse_enum(ResponseType, child.text, "ResponseType")
            elif tag == _LAST_RESPONSE_TIME:
                last_response_time = parse_datetime(child.text, "LastResponseTime")
        if mailbox is None:
            mailbox = Mailbox._trusted(email_address="", routing_type=None)
        return cls._trusted(
            mailbox=mailbox,
            response_type=response_type,
            last_response_time=last_response_time,
        )


class Body(EWSModel):
    """An item body and its format (``BodyType``).

    ``is_truncated`` is set by the server when it cut the body short; it is
    never sent.
    """

    content: str
    body_type: Annotated[BodyType, Field(alias="BodyType")] = BodyType.TEXT
    is_truncated: Annotated[bool, Field(alias="IsTruncated")] = False

    def to_xml(self, tag: str = "Body") -> etree._Element:
        """Build ``t:Body`` with its ``BodyType`` attribute."""
        return new_element(tag, self.content, {"BodyType": self.body_type.value})

    @classmethod
    def from_xml(cls, element: etree._Element) -> Body:
        """Read ``t:Body``; a missing ``BodyType`` attribute means text."""
        raw_type = element.get("BodyType")
        body_type = (
            BodyType.TEXT
            if raw_type is None
            else parse_enum(BodyType, raw_type, "BodyType")
        )
        return cls._trusted(
            content=element.text or "",
            body_type=body_type,
            is_truncated=element.get("IsTruncated") in ("true", "1"),
        )
