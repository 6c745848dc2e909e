"""Contacts (``ContactItemType``) and their dictionary-valued properties.

E-mail addresses, phone numbers and postal addresses are dictionaries keyed
by a fixed set of slots (``EmailAddress1``..``3``, ``BusinessPhone``...,
``Business``/``Home``/``Other``).  On the model they are tuples of entries
with unique keys; in UpdateItem each slot is its own indexed path, so setting
the field replaces the whole dictionary: slots absent from the new value are
deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Self, TypeVar

from lxml import etree
from pydantic import AfterValidator, Field, model_validator

from crm_ews._soap import t
from crm_ews.ews._models._base import (
    EWSModel,
    decode_error,
    new_element,
    parse_enum,
    sub_element,
)
from crm_ews.ews._models._fields import (
    BirthdayCodec,
    Codec,
    StringsCodec,
    TextCodec,
    Wire,
)
from crm_ews.ews._models._item import Item

__all__ = [
    "Contact",
    "EmailAddress",
    "EmailAddressKey",
    "PhoneNumber",
    "PhoneNumberKey",
    "PhysicalAddress",
    "PhysicalAddressKey",
]


class EmailAddressKey(StrEnum):
    """The three e-mail slots of a contact (``EmailAddressKeyType``)."""

    EMAIL_ADDRESS_1 = "EmailAddress1"
    EMAIL_ADDRESS_2 = "EmailAddress2"
    EMAIL_ADDRESS_3 = "EmailAddress3"


class PhoneNumberKey(StrEnum):
    """The phone number slots of a contact (``PhoneNumberKeyType``)."""

    ASSISTANT_PHONE = "AssistantPhone"
    BUSINESS_FAX = "BusinessFax"
    BUSINESS_PHONE = "BusinessPhone"
    BUSINESS_PHONE_2 = "BusinessPhone2"
    CALLBACK = "Callback"
    CAR_PHONE = "CarPhone"
    COMPANY_MAIN_PHONE = "CompanyMainPhone"
    HOME_FAX = "HomeFax"
    HOME_PHONE = "HomePhone"
    HOME_PHONE_2 = "HomePhone2"
    ISDN = "Isdn"
    MOBILE_PHONE = "MobilePhone"
    OTHER_FAX = "OtherFax"
    OTHER_TELEPHONE = "OtherTelephone"
    PAGER = "Pager"
    PRIMARY_PHONE = "PrimaryPhone"
    RADIO_PHONE = "RadioPhone"
    TELEX = "Telex"
    TTY_TDD_PHONE = "TtyTddPhone"
    BUSINESS_MOBILE = "BusinessMobile"
    IP_PHONE = "IPPhone"
    MMS = "Mms"
    MSN = "Msn"


class PhysicalAddressKey(StrEnum):
    """The postal address slots of a contact (``PhysicalAddressKeyType``)."""

    HOME = "Home"
    BUSINESS = "Business"
    OTHER = "Other"


class EmailAddress(EWSModel):
    """One e-mail slot: the address and an optional display name."""

    key: Annotated[EmailAddressKey, Field(alias="Key")]
    address: Annotated[str, Field(min_length=1)]
    name: Annotated[str | None, Field(alias="Name")] = None


class PhoneNumber(EWSModel):
    """One phone slot."""

    key: Annotated[PhoneNumberKey, Field(alias="Key")]
    number: Annotated[str, Field(min_length=1)]


#: Postal address parts in schema order: (python name, element name).
_ADDRESS_PARTS: Final = (
    ("street", "Street"),
    ("city", "City"),
    ("state", "State"),
    ("country_or_region", "CountryOrRegion"),
    ("postal_code", "PostalCode"),
)


class PhysicalAddress(EWSModel):
    """One postal address slot; every part is optional, but not all at once."""

    key: Annotated[PhysicalAddressKey, Field(alias="Key")]
    street: Annotated[str | None, Field(alias="Street")] = None
    city: Annotated[str | None, Field(alias="City")] = None
    state: Annotated[str | None, Field(alias="State")] = None
    country_or_region: Annotated[str | None, Field(alias="CountryOrRegion")] = None
    postal_code: Annotated[str | None, Field(alias="PostalCode")] = None

    @model_validator(mode="after")
    def _check_not_empty(self) -> Self:
        if all(getattr(self, name) is None for name, _ in _ADDRESS_PARTS):
            raise ValueError("a physical address needs at least one part")
        return self


_Entry = TypeVar("_Entry", EmailAddress, PhoneNumber, PhysicalAddress)


def _unique_keys(entries: tuple[_Entry, ...]) -> tuple[_Entry, ...]:
    keys = [entry.key for entry in entries]
    if len(set(keys)) != len(keys):
        raise ValueError("each key may appear only once")
    return entries


_ENTRY: Final = t("Entry")


def _indexed_uri(uri: str, index: str) -> etree._Element:
    return new_element("IndexedFieldURI", attrib={"FieldURI": uri, "FieldIndex": index})


def _entry_key(element: etree._Element, keys: type[StrEnum]) -> Any:
    raw = element.get("Key")
    if raw is None:
        raise decode_error("dictionary Entry has no Key attribute")
    return parse_enum(keys, raw, "Entry Key")


class _DictionaryCodec(Codec):
    """A ``t:Entry`` dictionary whose slots are updated one path per key."""

    def __init__(
        self,
        entry_uri: str,
        keys: type[StrEnum],
        fill: Callable[[etree._Element, Any], None],
        read: Callable[[etree._Element, Any], Any],
    ) -> None:
        self._entry_uri = entry_uri
        self._keys = keys
        self._fill = fill
        self._read = read

    def append(
        self, parent: etree._Element, tag: str, value: Any, *, full: bool
    ) -> None:
        wrapper = sub_element(parent, tag)
        for entry in value:
            self._fill(
                sub_element(wrapper, "Entry", attrib={"Key": entry.key.value}), entry
            )

    def decode(self, element: etree._Element) -> tuple[Any, ...]:
        entries = []
        seen = set()
        for child in element:
            if child.tag != _ENTRY:
                continue
            key = _entry_key(child, self._keys)
            if key in seen:
                raise decode_error(f"dictionary key {key.value} appears twice")
            seen.add(key)
            entries.append(self._read(child, key))
        return tuple(entries)

    def paths(self, uri: str) -> list[etree._Element]:
        return [_indexed_uri(self._entry_uri, key.value) for key in self._keys]

    def changes(self, uri: str, value: Any) -> list[tuple[etree._Element, Any]]:
        present = {entry.key: entry for entry in value or ()}
        return [
            (
                _indexed_uri(self._entry_uri, key.value),
                (present[key],) if key in present else None,
            )
            for key in self._keys
        ]


def _fill_email(element: etree._Element, entry: EmailAddress) -> None:
    if entry.name is not None:
        element.set("Name", entry.name)
    element.text = entry.address


def _read_email(element: etree._Element, key: EmailAddressKey) -> EmailAddress:
    return EmailAddress._trusted(
        key=key, address=element.text or "", name=element.get("Name")
    )


def _fill_phone(element: etree._Element, entry: PhoneNumber) -> None:
    element.text = entry.number


def _read_phone(element: etree._Element, key: PhoneNumberKey) -> PhoneNumber:
    return PhoneNumber._trusted(key=key, number=element.text or "")


_PART_BY_CLARK: Final = {t(tag): name for name, tag in _ADDRESS_PARTS}


def _fill_address(element: etree._Element, entry: PhysicalAddress) -> None:
    for name, tag in _ADDRESS_PARTS:
        value = getattr(entry, name)
        if value is not None:
            sub_element(element, tag, value)


def _read_address(element: etree._Element, key: PhysicalAddressKey) -> PhysicalAddress:
    values: dict[str, Any] = {"key": key}
    for child in element:
        name = _PART_BY_CLARK.get(str(child.tag))
        if name is not None:
            values[name] = child.text or ""
    return PhysicalAddress._trusted(**values)


class _AddressCodec(_DictionaryCodec):
    """Postal addresses: one indexed path per slot *and* per part."""

    def paths(self, uri: str) -> list[etree._Element]:
        return [
            _indexed_uri(f"contacts:PhysicalAddress:{tag}", key.value)
            for key in PhysicalAddressKey
            for _, tag in _ADDRESS_PARTS
        ]

    def changes(self, uri: str, value: Any) -> list[tuple[etree._Element, Any]]:
        present: dict[PhysicalAddressKey, PhysicalAddress] = {
            entry.key: entry for entry in value or ()
        }
        result: list[tuple[etree._Element, Any]] = []
        for key in PhysicalAddressKey:
            entry = present.get(key)
            for name, tag in _ADDRESS_PARTS:
                part = getattr(entry, name) if entry is not None else None
                path = _indexed_uri(f"contacts:PhysicalAddress:{tag}", key.value)
                if part is None:
                    result.append((path, None))
                else:
                    single = PhysicalAddress._trusted(key=key, **{name: part})
                    result.append((path, (single,)))
        return result


_TEXT: Final = TextCodec()
_DATE: Final = BirthdayCodec()


class Contact(Item):
    """A contact in a contacts folder.

    The notes of a contact are its ``body`` (``item:Body``); :attr:`notes`
    reads them as text.

    Raises:
        ValueError: A dictionary field repeats a key.
    """

    element_tag: ClassVar[str] = "Contact"

    file_as: Annotated[
        str | None, Field(alias="FileAs"), Wire("contacts:FileAs", _TEXT)
    ] = None
    display_name: Annotated[
        str | None, Field(alias="DisplayName"), Wire("contacts:DisplayName", _TEXT)
    ] = None
    given_name: Annotated[
        str | None, Field(alias="GivenName"), Wire("contacts:GivenName", _TEXT)
    ] = None
    initials: Annotated[
        str | None, Field(alias="Initials"), Wire("contacts:Initials", _TEXT)
    ] = None
    middle_name: Annotated[
        str | None, Field(alias="MiddleName"), Wire("contacts:MiddleName", _TEXT)
    ] = None
    nickname: Annotated[
        str | None, Field(alias="Nickname"), Wire("contacts:Nickname", _TEXT)
    ] = None
    company_name: Annotated[
        str | None, Field(alias="CompanyName"), Wire("contacts:CompanyName", _TEXT)
    ] = None
    email_addresses: Annotated[
        tuple[EmailAddress, ...],
        AfterValidator(_unique_keys),
        Field(alias="EmailAddresses"),
        Wire(
            "contacts:EmailAddresses",
            _DictionaryCodec(
                "contacts:EmailAddress", EmailAddressKey, _fill_email, _read_email
            ),
        ),
    ] = ()
    physical_addresses: Annotated[
        tuple[PhysicalAddress, ...],
        AfterValidator(_unique_keys),
        Field(alias="PhysicalAddresses"),
        Wire(
            "contacts:PhysicalAddresses",
            _AddressCodec(
                "contacts:PhysicalAddress",
                PhysicalAddressKey,
                _fill_address,
                _read_address,
            ),
        ),
    ] = ()
    phone_numbers: Annotated[
        tuple[PhoneNumber, ...],
        AfterValidator(_unique_keys),
        Field(alias="PhoneNumbers"),
        Wire(
            "contacts:PhoneNumbers",
            _DictionaryCodec(
                "contacts:PhoneNumber", PhoneNumberKey, _fill_phone, _read_phone
            ),
        ),
    ] = ()
    assistant_name: Annotated[
        str | None,
        Field(alias="AssistantName"),
        Wire("contacts:AssistantName", _TEXT),
    ] = None
    birthday: Annotated[
        date | None, Field(alias="Birthday"), Wire("contacts:Birthday", _DATE)
    ] = None
    # Limitation: business_home_page is an xs:anyURI on the wire and is sent
    # as given; a CRM value that is not a URI (stray "[", two "#", a bad "%"
    # escape) makes Exchange refuse the whole item with ErrorSchemaValidation.
    # Adapters should pass only well-formed URLs here.
    business_home_page: Annotated[
        str | None,
        Field(alias="BusinessHomePage"),
        Wire("contacts:BusinessHomePage", _TEXT),
    ] = None
    companies: Annotated[
        tuple[str, ...],
        Field(alias="Companies"),
        Wire("contacts:Companies", StringsCodec()),
    ] = ()
    department: Annotated[
        str | None, Field(alias="Department"), Wire("contacts:Department", _TEXT)
    ] = None
    generation: Annotated[
        str | None, Field(alias="Generation"), Wire("contacts:Generation", _TEXT)
    ] = None
    job_title: Annotated[
        str | None, Field(alias="JobTitle"), Wire("contacts:JobTitle", _TEXT)
    ] = None
    manager: Annotated[
        str | None, Field(alias="Manager"), Wire("contacts:Manager", _TEXT)
    ] = None
    office_location: Annotated[
        str | None,
        Field(alias="OfficeLocation"),
        Wire("contacts:OfficeLocation", _TEXT),
    ] = None
    profession: Annotated[
        str | None, Field(alias="Profession"), Wire("contacts:Profession", _TEXT)
    ] = None
    spouse_name: Annotated[
        str | None, Field(alias="SpouseName"), Wire("contacts:SpouseName", _TEXT)
    ] = None
    surname: Annotated[
        str | None, Field(alias="Surname"), Wire("contacts:Surname", _TEXT)
    ] = None
    wedding_anniversary: Annotated[
        date | None,
        Field(alias="WeddingAnniversary"),
        Wire("contacts:WeddingAnniversary", _DATE),
    ] = None

    @property
    def notes(self) -> str | None:
        """The contact's notes: the text of its body, or ``None``."""
        return self.body.content if self.body is not None else None
