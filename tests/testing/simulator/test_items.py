"""CreateItem, GetItem, UpdateItem (ChangeKeys, conflicts), DeleteItem, MoveItem."""

from __future__ import annotations

import base64

import pytest
from lxml import etree

from crm_ews._soap import m, t
from crm_ews.testing import CallInfo, ExchangeSimulator
from tests.testing.simulator._ews import (
    ALICE,
    SOAPClient,
    code,
    item_ids,
    messages,
    request,
)

CONTACT = (
    "<t:Contact><t:GivenName>Ada</t:GivenName>"
    '<t:EmailAddresses><t:Entry Key="EmailAddress1">ada@example.org</t:Entry>'
    "</t:EmailAddresses>"
    "<t:Surname>Lovelace</t:Surname></t:Contact>"
)
CRM_ID = (
    '<t:ExtendedFieldURI DistinguishedPropertySetId="PublicStrings" '
    'PropertyName="CrmId" PropertyType="String"/>'
)


def _set_subject(tag: str, subject: str) -> str:
    return (
        '<t:SetItemField><t:FieldURI FieldURI="item:Subject"/>'
        f"<t:{tag}><t:Subject>{subject}</t:Subject></t:{tag}></t:SetItemField>"
    )


def _task(ews: SOAPClient, subject: str = "Call back") -> tuple[str, str]:
    return ews.create(f"<t:Task><t:Subject>{subject}</t:Subject></t:Task>")[0]


def test_created_ids_are_realistic_base64(ews: SOAPClient) -> None:
    """ItemIds and ChangeKeys are base64 of Exchange-like length."""
    item_id, change_key = ews.create(CONTACT)[0]
    assert len(item_id) >= 140
    assert base64.b64decode(item_id)
    assert len(change_key) == 40
    assert base64.b64decode(change_key)


def test_created_contact_reads_back_with_server_fields(ews: SOAPClient) -> None:
    """GetItem returns what was stored plus server-computed properties."""
    item_id, change_key = ews.create(CONTACT)[0]
    contact = ews.get([item_id]).find(f".//{t('Contact')}")
    assert contact is not None
    assert contact.findtext(t("ItemClass")) == "IPM.Contact"
    assert contact.findtext(t("DisplayName")) == "Ada Lovelace"
    assert contact.find(t("ItemId")).get("ChangeKey") == change_key
    assert contact.find(f"{t('ParentFolderId')}") is not None
    assert contact.findtext(f"{t('EmailAddresses')}/{t('Entry')}") == "ada@example.org"


def test_id_only_shape_returns_just_the_id(ews: SOAPClient) -> None:
    """IdOnly returns ItemId and nothing unrequested."""
    item_id, _ = ews.create(CONTACT)[0]
    contact = ews.get([item_id], shape="IdOnly").find(f".//{t('Contact')}")
    assert [etree.QName(child).localname for child in contact] == ["ItemId"]


def test_indexed_property_request_returns_only_that_entry(ews: SOAPClient) -> None:
    """An IndexedFieldURI returns the one requested entry."""
    item_id, _ = ews.create(CONTACT)[0]
    additional = (
        '<t:IndexedFieldURI FieldURI="contacts:EmailAddress" '
        'FieldIndex="EmailAddress1"/>'
    )
    contact = ews.get([item_id], shape="IdOnly", additional=additional).find(
        f".//{t('Contact')}"
    )
    entries = contact.findall(f"{t('EmailAddresses')}/{t('Entry')}")
    assert [entry.get("Key") for entry in entries] == ["EmailAddress1"]


def test_indexed_part_request_returns_only_that_part(ews: SOAPClient) -> None:
    """A part of one address entry comes back alone; the stored item keeps all."""
    address = (
        "<t:Contact><t:PhysicalAddresses>"
        '<t:Entry Key="Business"><t:Street>1 Main St</t:Street>'
        "<t:City>Springfield</t:City></t:Entry>"
        '<t:Entry Key="Home"><t:City>Shelbyville</t:City></t:Entry>'
        "</t:PhysicalAddresses></t:Contact>"
    )
    item_id, _ = ews.create(address)[0]
    additional = (
        '<t:IndexedFieldURI FieldURI="contacts:PhysicalAddress:City" '
        'FieldIndex="Business"/>'
    )
    path = f".//{t('Contact')}/{t('PhysicalAddresses')}/{t('Entry')}"

    partial = ews.get([item_id], shape="IdOnly", additional=additional).findall(path)
    full = ews.get([item_id], shape="AllProperties").findall(path)

    assert [(e.get("Key"), [etree.QName(c).localname for c in e]) for e in partial] == [
        ("Business", ["City"])
    ]
    assert [(e.get("Key"), len(e)) for e in full] == [("Business", 2), ("Home", 1)]


def test_item_in_wrong_folder_kind_is_refused(ews: SOAPClient) -> None:
    """A contact cannot be created in the calendar."""
    response = ews.call(
        request(
            "CreateItem",
            '<m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/>'
            "</m:SavedItemFolderId>"
            f"<m:Items>{CONTACT}</m:Items>",
        )
    )
    assert code(messages(response)[0]) == "ErrorCannotCreateContactInNonContactFolder"


def test_one_bad_item_does_not_stop_the_others(ews: SOAPClient) -> None:
    """Per-item errors leave the other items of the request created."""
    body = request(
        "CreateItem",
        "<m:Items><t:Task><t:Subject>ok</t:Subject></t:Task>"
        "<t:Task><t:Subject>bad</t:Subject><t:DateTimeCreated>2020-01-01T00:00:00Z"
        "</t:DateTimeCreated></t:Task></m:Items>",
    )
    codes = [code(message) for message in messages(ews.call(body))]
    assert codes == ["NoError", "ErrorInvalidPropertySet"]
    assert len(ews.simulator.items(ALICE, "tasks")) == 1


@pytest.mark.parametrize(
    ("item_id", "expected"),
    [("bm90LWFuLWlk", "ErrorInvalidIdMalformed"), ("", "ErrorInvalidIdEmpty")],
)
def test_bad_ids_get_id_errors(ews: SOAPClient, item_id: str, expected: str) -> None:
    """Malformed and empty ids are refused per item, with an empty Items."""
    message = messages(ews.get([item_id]))[0]
    assert code(message) == expected
    assert message.find(m("Items")) is not None


def test_deleted_item_is_not_found(ews: SOAPClient) -> None:
    """A well-formed id of a deleted item gives ErrorItemNotFound."""
    item_id, _ = _task(ews)
    ews.simulator.remove_item(ALICE, item_id)
    assert code(messages(ews.get([item_id]))[0]) == "ErrorItemNotFound"


def test_update_with_current_change_key_succeeds(ews: SOAPClient) -> None:
    """A current ChangeKey updates the item and yields a new ChangeKey."""
    item_id, change_key = _task(ews)
    message = ews.update(item_id, change_key, _set_subject("Task", "renamed"))
    assert code(message) == "NoError"
    new_id, new_key = item_ids(message)[0]
    assert new_id == item_id
    assert new_key != change_key
    assert message.findtext(f"{m('ConflictResults')}/{t('Count')}") == "0"
    assert ews.simulator.item(ALICE, item_id).subject == "renamed"


def test_never_overwrite_refuses_a_stale_change_key(ews: SOAPClient) -> None:
    """NeverOverwrite with an old ChangeKey is an irresolvable conflict."""
    item_id, change_key = _task(ews)
    ews.simulator.modify_item(ALICE, item_id, Subject="changed elsewhere")
    message = ews.update(item_id, change_key, _set_subject("Task", "mine"))
    assert code(message) == "ErrorIrresolvableConflict"
    assert ews.simulator.item(ALICE, item_id).subject == "changed elsewhere"


def test_auto_resolve_merges_disjoint_changes(ews: SOAPClient) -> None:
    """AutoResolve applies a stale change that touches other properties."""
    item_id, change_key = _task(ews)
    ews.simulator.modify_item(ALICE, item_id, Subject="changed elsewhere")
    update = (
        '<t:SetItemField><t:FieldURI FieldURI="task:Status"/>'
        "<t:Task><t:Status>InProgress</t:Status></t:Task></t:SetItemField>"
    )
    message = ews.update(item_id, change_key, update, mode="AutoResolve")
    assert code(message) == "NoError"
    stored = ews.simulator.item(ALICE, item_id)
    assert (stored.subject, stored.text("Status")) == (
        "changed elsewhere",
        "InProgress",
    )


def test_auto_resolve_refuses_overlapping_changes(ews: SOAPClient) -> None:
    """AutoResolve fails when the same property changed in between."""
    item_id, change_key = _task(ews)
    ews.simulator.modify_item(ALICE, item_id, Subject="changed elsewhere")
    message = ews.update(
        item_id, change_key, _set_subject("Task", "mine"), mode="AutoResolve"
    )
    assert code(message) == "ErrorIrresolvableConflict"


def test_always_overwrite_counts_conflicts(ews: SOAPClient) -> None:
    """AlwaysOverwrite wins and reports how many properties conflicted."""
    item_id, change_key = _task(ews)
    ews.simulator.modify_item(ALICE, item_id, Subject="changed elsewhere")
    message = ews.update(
        item_id, change_key, _set_subject("Task", "mine"), mode="AlwaysOverwrite"
    )
    assert message.findtext(f"{m('ConflictResults')}/{t('Count')}") == "1"
    assert ews.simulator.item(ALICE, item_id).subject == "mine"


def test_before_operation_hook_injects_a_concurrent_edit(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """The hook runs right before the operation, so a test can race it."""
    item_id, change_key = _task(ews)

    def edit(call: CallInfo) -> None:
        if call.operation == "UpdateItem":
            ews_simulator.modify_item(call.mailbox, item_id, Subject="raced")

    ews_simulator.before_operation = edit
    message = ews.update(item_id, change_key, _set_subject("Task", "mine"))
    assert code(message) == "ErrorIrresolvableConflict"


def test_garbage_change_key_is_invalid(ews: SOAPClient) -> None:
    """A ChangeKey that is not one gets ErrorInvalidChangeKey."""
    item_id, _ = _task(ews)
    message = ews.update(item_id, "bm9wZQ==", _set_subject("Task", "x"))
    assert code(message) == "ErrorInvalidChangeKey"


def test_read_only_property_cannot_be_set(ews: SOAPClient) -> None:
    """Server-managed properties are refused with ErrorInvalidPropertySet."""
    item_id, change_key = _task(ews)
    update = (
        '<t:SetItemField><t:FieldURI FieldURI="item:DateTimeCreated"/>'
        "<t:Task><t:DateTimeCreated>2020-01-01T00:00:00Z</t:DateTimeCreated></t:Task>"
        "</t:SetItemField>"
    )
    assert code(ews.update(item_id, change_key, update)) == "ErrorInvalidPropertySet"


def test_change_with_two_properties_is_refused(ews: SOAPClient) -> None:
    """A SetItemField must carry exactly the property its path names."""
    item_id, change_key = _task(ews)
    update = (
        '<t:SetItemField><t:FieldURI FieldURI="item:Subject"/>'
        "<t:Task><t:Subject>a</t:Subject><t:Status>Completed</t:Status></t:Task>"
        "</t:SetItemField>"
    )
    assert (
        code(ews.update(item_id, change_key, update))
        == "ErrorIncorrectUpdatePropertyCount"
    )


def test_indexed_and_extended_updates_and_deletes(ews: SOAPClient) -> None:
    """Indexed entries, address parts and extended properties set and delete."""
    item_id, change_key = ews.create(CONTACT)[0]
    updates = (
        "<t:SetItemField>"
        '<t:IndexedFieldURI FieldURI="contacts:EmailAddress" '
        'FieldIndex="EmailAddress2"/>'
        "<t:Contact><t:EmailAddresses>"
        '<t:Entry Key="EmailAddress2">a2@example.org</t:Entry>'
        "</t:EmailAddresses></t:Contact></t:SetItemField>"
        "<t:SetItemField>"
        '<t:IndexedFieldURI FieldURI="contacts:PhysicalAddress:City" '
        'FieldIndex="Business"/>'
        '<t:Contact><t:PhysicalAddresses><t:Entry Key="Business">'
        "<t:City>Oslo</t:City></t:Entry>"
        "</t:PhysicalAddresses></t:Contact></t:SetItemField>"
        f"<t:SetItemField>{CRM_ID}<t:Contact><t:ExtendedProperty>{CRM_ID}"
        "<t:Value>crm-7</t:Value></t:ExtendedProperty></t:Contact></t:SetItemField>"
        "<t:DeleteItemField>"
        '<t:IndexedFieldURI FieldURI="contacts:EmailAddress" '
        'FieldIndex="EmailAddress1"/>'
        "</t:DeleteItemField>"
    )
    assert code(ews.update(item_id, change_key, updates)) == "NoError"
    contact = ews.get([item_id], additional=CRM_ID).find(f".//{t('Contact')}")
    keys = [entry.get("Key") for entry in contact.iter(t("Entry"))]
    assert keys == ["EmailAddress2", "Business"]
    assert contact.findtext(f".//{t('City')}") == "Oslo"
    assert contact.findtext(f"{t('ExtendedProperty')}/{t('Value')}") == "crm-7"


def test_extended_property_only_returned_on_request(ews: SOAPClient) -> None:
    """AllProperties leaves extended properties out unless asked for."""
    item = (
        "<t:Task><t:Subject>x</t:Subject>"
        f"<t:ExtendedProperty>{CRM_ID}<t:Value>1</t:Value></t:ExtendedProperty>"
        "</t:Task>"
    )
    item_id, _ = ews.create(item)[0]
    assert ews.get([item_id]).find(f".//{t('ExtendedProperty')}") is None
    assert (
        ews.get([item_id], additional=CRM_ID).find(f".//{t('ExtendedProperty')}")
        is not None
    )


def test_task_completion_is_derived(ews: SOAPClient) -> None:
    """Setting Status to Completed completes the task like Exchange does."""
    item_id, change_key = _task(ews)
    update = (
        '<t:SetItemField><t:FieldURI FieldURI="task:Status"/>'
        "<t:Task><t:Status>Completed</t:Status></t:Task></t:SetItemField>"
    )
    ews.update(item_id, change_key, update)
    stored = ews.simulator.item(ALICE, item_id)
    assert (stored.text("PercentComplete"), stored.text("IsComplete")) == (
        "100",
        "true",
    )


def test_append_to_body_extends_the_text(ews: SOAPClient) -> None:
    """AppendToItemField on Body appends text."""
    item_id, change_key = ews.create(
        '<t:Task><t:Subject>s</t:Subject><t:Body BodyType="Text">one</t:Body></t:Task>'
    )[0]
    update = (
        '<t:AppendToItemField><t:FieldURI FieldURI="item:Body"/>'
        '<t:Task><t:Body BodyType="Text"> two</t:Body></t:Task></t:AppendToItemField>'
    )
    ews.update(item_id, change_key, update)
    assert ews.simulator.item(ALICE, item_id).text("Body") == "one two"


@pytest.mark.parametrize(
    ("delete_type", "in_trash", "recoverable"),
    [("HardDelete", 0, 0), ("SoftDelete", 0, 1), ("MoveToDeletedItems", 1, 0)],
)
def test_delete_types(
    ews: SOAPClient, delete_type: str, in_trash: int, recoverable: int
) -> None:
    """Hard deletes remove; soft and trash deletes move, with a new id."""
    item_id, _ = _task(ews)
    body = request(
        "DeleteItem",
        f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds>',
        DeleteType=delete_type,
        AffectedTaskOccurrences="AllOccurrences",
    )
    assert code(messages(ews.call(body))[0]) == "NoError"
    assert ews.simulator.items(ALICE, "tasks") == []
    trash = ews.simulator.items(ALICE, "deleteditems")
    assert len(trash) == in_trash
    assert len(ews.simulator.items(ALICE, "recoverableitemsdeletions")) == recoverable
    assert all(item.item_id != item_id for item in trash)


def test_move_item_gives_a_new_id(ews: SOAPClient) -> None:
    """MoveItem returns the item's new id in the target folder."""
    item_id, _ = _task(ews)
    body = request(
        "MoveItem",
        '<m:ToFolderId><t:DistinguishedFolderId Id="deleteditems"/></m:ToFolderId>'
        f'<m:ItemIds><t:ItemId Id="{item_id}"/></m:ItemIds>',
    )
    new_id = item_ids(ews.call(body))[0][0]
    assert new_id != item_id
    assert [item.item_id for item in ews.simulator.items(ALICE, "deleteditems")] == [
        new_id
    ]


def test_message_needs_a_disposition(ews: SOAPClient) -> None:
    """A Message without MessageDisposition is refused per item."""
    body = request(
        "CreateItem",
        "<m:Items><t:Message><t:Subject>x</t:Subject></t:Message></m:Items>",
    )
    assert code(messages(ews.call(body))[0]) == "ErrorMessageDispositionRequired"


def test_add_item_rejects_bad_input(ews_simulator: ExchangeSimulator) -> None:
    """The set-up API raises ValueError for unknown mailboxes and item kinds."""
    with pytest.raises(ValueError, match="no mailbox"):
        ews_simulator.add_item("zed@example.com", etree.Element(t("Task")))
    with pytest.raises(ValueError, match="cannot store"):
        ews_simulator.add_item(ALICE, etree.Element(t("Persona")))
    task_id = ews_simulator.add_item(ALICE, etree.Element(t("Task")))
    with pytest.raises(ValueError, match="cannot be set"):
        ews_simulator.modify_item(ALICE, task_id, ItemId="x")
