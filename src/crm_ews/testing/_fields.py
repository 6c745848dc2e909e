"""Item types, their element order, and the property paths that address them.

EWS items are XML sequences: every child has a fixed position in its type.
The tables here name, per item type, the children in schema order, so an
element set by ``UpdateItem`` lands where Exchange would put it and every
rendered item stays schema-valid.  Property paths (``t:FieldURI``,
``t:IndexedFieldURI``, ``t:ExtendedFieldURI``) are parsed into
:class:`FieldPath` values and resolved against stored item elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from lxml import etree

from crm_ews._soap import TYPES_NS, t
from crm_ews.testing._wire import SimulatorFault, schema_fault

_ITEM_BASE: Final = [
    "MimeContent",
    "ItemId",
    "ParentFolderId",
    "ItemClass",
    "Subject",
    "Sensitivity",
    "Body",
    "Attachments",
    "DateTimeReceived",
    "Size",
    "Categories",
    "Importance",
    "InReplyTo",
    "IsSubmitted",
    "IsDraft",
    "IsFromMe",
    "IsResend",
    "IsUnmodified",
    "InternetMessageHeaders",
    "DateTimeSent",
    "DateTimeCreated",
    "ResponseObjects",
    "ReminderDueBy",
    "ReminderIsSet",
    "ReminderNextTime",
    "ReminderMinutesBeforeStart",
    "DisplayCc",
    "DisplayTo",
    "DisplayBcc",
    "HasAttachments",
    "ExtendedProperty",
    "Culture",
    "EffectiveRights",
    "LastModifiedName",
    "LastModifiedTime",
    "IsAssociated",
    "WebClientReadFormQueryString",
    "WebClientEditFormQueryString",
    "ConversationId",
    "UniqueBody",
    "Flag",
    "StoreEntryId",
    "InstanceKey",
    "NormalizedBody",
    "EntityExtractionResult",
    "PolicyTag",
    "ArchiveTag",
    "RetentionDate",
    "Preview",
    "RightsManagementLicenseData",
    "PredictedActionReasons",
    "IsClutter",
    "BlockStatus",
    "HasBlockedImages",
    "TextBody",
    "IconIndex",
    "SearchKey",
    "SortKey",
    "Hashtags",
    "Mentions",
    "MentionedMe",
    "MentionsPreview",
    "MentionsEx",
    "AppliedHashtags",
    "AppliedHashtagsPreview",
    "Likes",
    "LikesPreview",
    "PendingSocialActivityTagIds",
    "AtAllMention",
    "CanDelete",
    "InferenceClassification",
]

_CALENDAR_EXTRA: Final = [
    "UID",
    "RecurrenceId",
    "DateTimeStamp",
    "Start",
    "End",
    "OriginalStart",
    "IsAllDayEvent",
    "LegacyFreeBusyStatus",
    "Location",
    "When",
    "IsMeeting",
    "IsCancelled",
    "IsRecurring",
    "MeetingRequestWasSent",
    "IsResponseRequested",
    "CalendarItemType",
    "MyResponseType",
    "Organizer",
    "RequiredAttendees",
    "OptionalAttendees",
    "Resources",
    "InboxReminders",
    "ConflictingMeetingCount",
    "AdjacentMeetingCount",
    "ConflictingMeetings",
    "AdjacentMeetings",
    "Duration",
    "TimeZone",
    "AppointmentReplyTime",
    "AppointmentSequenceNumber",
    "AppointmentState",
    "Recurrence",
    "FirstOccurrence",
    "LastOccurrence",
    "ModifiedOccurrences",
    "DeletedOccurrences",
    "MeetingTimeZone",
    "StartTimeZone",
    "EndTimeZone",
    "ConferenceType",
    "AllowNewTimeProposal",
    "IsOnlineMeeting",
    "MeetingWorkspaceUrl",
    "NetShowUrl",
    "EnhancedLocation",
    "StartWallClock",
    "EndWallClock",
    "StartTimeZoneId",
    "EndTimeZoneId",
    "IntendedFreeBusyStatus",
    "JoinOnlineMeetingUrl",
    "OnlineMeetingSettings",
    "IsOrganizer",
    "CalendarActivityData",
    "DoNotForwardMeeting",
]

_CONTACT_EXTRA: Final = [
    "FileAs",
    "FileAsMapping",
    "DisplayName",
    "GivenName",
    "Initials",
    "MiddleName",
    "Nickname",
    "CompleteName",
    "CompanyName",
    "EmailAddresses",
    "AbchEmailAddresses",
    "PhysicalAddresses",
    "PhoneNumbers",
    "AssistantName",
    "Birthday",
    "BusinessHomePage",
    "Children",
    "Companies",
    "ContactSource",
    "Department",
    "Generation",
    "ImAddresses",
    "JobTitle",
    "Manager",
    "Mileage",
    "OfficeLocation",
    "PostalAddressIndex",
    "Profession",
    "SpouseName",
    "Surname",
    "WeddingAnniversary",
    "HasPicture",
    "PhoneticFullName",
    "PhoneticFirstName",
    "PhoneticLastName",
    "Alias",
    "Notes",
    "Photo",
    "UserSMIMECertificate",
    "MSExchangeCertificate",
    "DirectoryId",
    "ManagerMailbox",
    "DirectReports",
    "AccountName",
    "IsAutoUpdateDisabled",
    "IsMessengerEnabled",
    "Comment",
    "ContactShortId",
    "ContactType",
    "Gender",
    "IsHidden",
    "ObjectId",
    "PassportId",
    "IsPrivate",
    "SourceId",
    "TrustLevel",
    "CreatedBy",
    "Urls",
    "Cid",
    "SkypeAuthCertificate",
    "SkypeContext",
    "SkypeId",
    "SkypeRelationship",
    "YomiNickname",
    "XboxLiveTag",
    "InviteFree",
    "HidePresenceAndProfile",
    "IsPendingOutbound",
    "SupportGroupFeeds",
    "UserTileHash",
    "UnifiedInbox",
    "Mris",
    "Wlid",
    "AbchContactId",
    "NotInBirthdayCalendar",
    "ShellContactType",
    "ImMri",
    "PresenceTrustLevel",
    "OtherMri",
    "ProfileLastChanged",
    "MobileIMEnabled",
    "PartnerNetworkProfilePhotoUrl",
    "PartnerNetworkThumbnailPhotoUrl",
    "PersonId",
    "ConversationGuid",
]

_TASK_EXTRA: Final = [
    "ActualWork",
    "AssignedTime",
    "BillingInformation",
    "ChangeCount",
    "Companies",
    "CompleteDate",
    "Contacts",
    "DelegationState",
    "Delegator",
    "DueDate",
    "IsAssignmentEditable",
    "IsComplete",
    "IsRecurring",
    "IsTeamTask",
    "Mileage",
    "Owner",
    "PercentComplete",
    "Recurrence",
    "StartDate",
    "Status",
    "StatusDescription",
    "TotalWork",
]

_MESSAGE_EXTRA: Final = [
    "Sender",
    "ToRecipients",
    "CcRecipients",
    "BccRecipients",
    "IsReadReceiptRequested",
    "IsDeliveryReceiptRequested",
    "ConversationIndex",
    "ConversationTopic",
    "From",
    "InternetMessageId",
    "IsRead",
    "IsResponseRequested",
    "References",
    "ReplyTo",
    "ReceivedBy",
    "ReceivedRepresenting",
    "ApprovalRequestData",
    "VotingInformation",
    "ReminderMessageData",
    "MessageSafety",
    "SenderSMTPAddress",
    "MailboxGuids",
    "MailboxGuid",
    "PublishedCalendarItemIcs",
    "PublishedCalendarItemName",
]

#: Children of a physical address entry, in order.
ADDRESS_PARTS: Final = ("Street", "City", "State", "CountryOrRegion", "PostalCode")

#: Properties only the server writes; clients may not set them.
SERVER_MANAGED: Final = frozenset(
    {
        "ItemId",
        "ParentFolderId",
        "DateTimeCreated",
        "LastModifiedTime",
        "LastModifiedName",
        "Size",
        "HasAttachments",
        "IsAssociated",
        "EffectiveRights",
        "ConversationId",
        "InstanceKey",
        "StoreEntryId",
        "CalendarItemType",
        "IsRecurring",
        "FirstOccurrence",
        "LastOccurrence",
        "ModifiedOccurrences",
        "DeletedOccurrences",
        "IsOrganizer",
        "MyResponseType",
        "AppointmentState",
        "ConflictingMeetingCount",
        "AdjacentMeetingCount",
        "ConflictingMeetings",
        "AdjacentMeetings",
        "OriginalStart",
    }
)


@dataclass(frozen=True, slots=True)
class ItemType:
    """One EWS item type: its element name, order table and home folder."""

    tag: str
    item_class: str
    folder_class: str | None
    order: dict[str, int]
    prefixes: frozenset[str]
    wrong_folder_code: str | None

    def position(self, local: str) -> int | None:
        """Index of ``local`` in the type's sequence, or ``None``."""
        return self.order.get(local)


def _item_type(
    tag: str,
    item_class: str,
    folder_class: str | None,
    extra: list[str],
    prefix: str | None,
    wrong_folder_code: str | None,
) -> ItemType:
    names = _ITEM_BASE + extra
    prefixes = {"item"} | ({prefix} if prefix else set())
    return ItemType(
        tag=tag,
        item_class=item_class,
        folder_class=folder_class,
        order={name: index for index, name in enumerate(names)},
        prefixes=frozenset(prefixes),
        wrong_folder_code=wrong_folder_code,
    )


#: Item types the simulator stores, by element local name.
ITEM_TYPES: Final[dict[str, ItemType]] = {
    "CalendarItem": _item_type(
        "CalendarItem",
        "IPM.Appointment",
        "IPF.Appointment",
        _CALENDAR_EXTRA,
        "calendar",
        "ErrorCannotCreateCalendarItemInNonCalendarFolder",
    ),
    "Contact": _item_type(
        "Contact",
        "IPM.Contact",
        "IPF.Contact",
        _CONTACT_EXTRA,
        "contacts",
        "ErrorCannotCreateContactInNonContactFolder",
    ),
    "Task": _item_type(
        "Task",
        "IPM.Task",
        "IPF.Task",
        _TASK_EXTRA,
        "task",
        "ErrorCannotCreateTaskInNonTaskFolder",
    ),
    "Message": _item_type("Message", "IPM.Note", None, _MESSAGE_EXTRA, "message", None),
    "Item": _item_type("Item", "IPM", None, [], None, None),
}

#: FieldURI prefixes the simulator understands for items.
_ITEM_PREFIXES: Final = frozenset({"item", "calendar", "contacts", "task", "message"})

#: Indexed FieldURIs -> (container element, whether entries have sub-parts).
_INDEXED: Final = {
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:ImAddress": "ImAddresses",
}


@dataclass(frozen=True, slots=True)
class ExtendedKey:
    """Normalised identity of an extended (MAPI) property."""

    property_set: str | None
    name: str | None
    property_id: int | None
    tag: int | None


@dataclass(frozen=True, slots=True)
class FieldPath:
    """One parsed property path.

    Exactly one of the shapes applies: ``element`` alone (an unindexed field),
    ``element`` with ``index`` (and ``part`` for address parts), or
    ``extended``.
    """

    uri: str
    element: str | None = None
    prefix: str | None = None
    index: str | None = None
    part: str | None = None
    extended: ExtendedKey | None = None
    extended_type: str | None = None

    def applies_to(self, item_type: ItemType) -> bool:
        """Whether an item of ``item_type`` can carry this property."""
        if self.extended is not None:
            return True
        return self.prefix in item_type.prefixes


def _int_value(raw: str) -> int:
    raw = raw.strip()
    return int(raw, 16) if raw.lower().startswith("0x") else int(raw)


def extended_key(element: etree._Element) -> ExtendedKey:
    """The identity of an ``ExtendedFieldURI`` element.

    Raises:
        SimulatorFault: The attributes do not name a property.
    """
    distinguished = element.get("DistinguishedPropertySetId")
    set_id = element.get("PropertySetId")
    name = element.get("PropertyName")
    raw_id = element.get("PropertyId")
    raw_tag = element.get("PropertyTag")
    try:
        property_id = _int_value(raw_id) if raw_id is not None else None
        tag = _int_value(raw_tag) if raw_tag is not None else None
    except ValueError as exc:
        raise SimulatorFault(
            "ErrorInvalidExtendedProperty", "The extended property id is invalid."
        ) from exc

    property_set = distinguished or (set_id.lower() if set_id else None)
    if tag is None and (
        property_set is None or (name is None) == (property_id is None)
    ):
        raise SimulatorFault(
            "ErrorInvalidExtendedProperty",
            "An extended property needs a property set and a name or id, or a tag.",
        )
    if element.get("PropertyType") is None:
        raise schema_fault("The required attribute 'PropertyType' is missing.")
    return ExtendedKey(property_set, name, property_id, tag)


def parse_path(element: etree._Element) -> FieldPath:
    """Parse one path element (``t:FieldURI``, ``t:IndexedFieldURI``...).

    Raises:
        SimulatorFault: The element is not a path, or names an unknown field.
    """
    if element.tag == t("ExtendedFieldURI"):
        return FieldPath(
            uri="ExtendedProperty",
            extended=extended_key(element),
            extended_type=element.get("PropertyType"),
        )

    uri = element.get("FieldURI") or ""
    prefix, _, rest = uri.partition(":")
    if element.tag == t("FieldURI"):
        if not rest or ":" in rest:
            raise schema_fault(f"The FieldURI attribute value '{uri}' is invalid.")
        return FieldPath(uri=uri, element=rest, prefix=prefix)

    if element.tag == t("IndexedFieldURI"):
        index = element.get("FieldIndex")
        if not index:
            raise schema_fault("The required attribute 'FieldIndex' is missing.")
        if uri in _INDEXED:
            return FieldPath(uri=uri, element=_INDEXED[uri], prefix=prefix, index=index)
        head, _, part = uri.rpartition(":")
        if head == "contacts:PhysicalAddress" and part in ADDRESS_PARTS:
            return FieldPath(
                uri=uri,
                element="PhysicalAddresses",
                prefix=prefix,
                index=index,
                part=part,
            )
        raise SimulatorFault(
            "ErrorInvalidPropertyRequest",
            f"The property path {uri!r} is not supported.",
        )

    raise schema_fault(
        f"The element '{etree.QName(element).localname}' is not a property path."
    )


def path_children(container: etree._Element | None) -> list[FieldPath]:
    """Parse every path child of ``container`` (e.g. ``AdditionalProperties``)."""
    if container is None:
        return []
    return [parse_path(child) for child in container if isinstance(child.tag, str)]


_TYPES_PREFIX: Final = "{" + TYPES_NS + "}"
#: Tag -> local name, memoised: element names repeat endlessly, and this is
#: the simulator's hottest function.  Bounded so hostile input cannot grow it.
_LOCAL_NAMES: dict[str, str] = {}
_LOCAL_NAMES_MAX: Final = 4096


def local(element: etree._Element) -> str:
    """The local name of an element in the types namespace, else ``""``."""
    tag = element.tag
    if not isinstance(tag, str):
        return ""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag[len(_TYPES_PREFIX) :] if tag.startswith(_TYPES_PREFIX) else ""
        if len(_LOCAL_NAMES) < _LOCAL_NAMES_MAX:
            _LOCAL_NAMES[tag] = name
    return name


def insert_ordered(
    item: etree._Element, child: etree._Element, order: dict[str, int]
) -> None:
    """Insert ``child`` into ``item`` at its schema position.

    An existing element of the same name (other than ``ExtendedProperty``,
    which repeats) is replaced.
    """
    name = local(child)
    last = len(order)
    rank = order.get(name, last)
    repeats = name == "ExtendedProperty"
    # Walk from the end: the server mostly sets late properties, and stored
    # items are already in order, so the first smaller rank is the spot.
    for existing in reversed(item):
        existing_name = local(existing)
        if existing_name == name and not repeats:
            item.replace(existing, child)
            return
        if order.get(existing_name, last) <= rank:
            existing.addnext(child)
            return
    item.insert(0, child)


def matches_extended(element: etree._Element, key: ExtendedKey) -> bool:
    """Whether a stored ``t:ExtendedProperty`` is the property ``key``."""
    uri = element.find(t("ExtendedFieldURI"))
    if uri is None:
        return False
    try:
        return extended_key(uri) == key
    except SimulatorFault:
        return False


def find_values(item: etree._Element, path: FieldPath) -> list[etree._Element]:
    """The elements of ``item`` holding the value at ``path`` (maybe none)."""
    if path.extended is not None:
        key = path.extended
        return [
            prop
            for prop in item.iterchildren(t("ExtendedProperty"))
            if matches_extended(prop, key)
        ]
    if path.element is None:
        return []
    found = item.find(t(path.element))
    if found is None:
        return []
    if path.index is None:
        return [found]
    for entry in found.iterchildren(t("Entry")):
        if entry.get("Key") == path.index:
            if path.part is None:
                return [entry]
            part = entry.find(t(path.part))
            return [] if part is None else [part]
    return []


def text_values(item: etree._Element, path: FieldPath) -> list[str]:
    """The text values at ``path``; multi-valued extended properties give many."""
    values: list[str] = []
    for element in find_values(item, path):
        if path.extended is not None:
            single = element.find(t("Value"))
            if single is not None:
                values.append(single.text or "")
            multi = element.find(t("Values"))
            if multi is not None:
                values.extend(value.text or "" for value in multi)
        elif len(element) == 0:
            values.append(element.text or "")
        else:
            values.append("".join(element.itertext()))
    return values
