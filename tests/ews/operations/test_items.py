"""GetItem, CreateItem, UpdateItem and DeleteItem: parsing and argument checks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from crm_ews.errors import (
    EditConflictError,
    EWSError,
    InvalidRequestError,
    ItemNotFoundError,
    ResponseDecodeError,
    RetryLaterError,
)
from crm_ews.ews import (
    CalendarItem,
    ConflictResolution,
    Contact,
    CreateItem,
    DeleteItem,
    GetItem,
    ItemChange,
    ItemId,
    OccurrenceItemId,
    Task,
    UpdateItem,
    UpdateResult,
)
from tests.ews.operations._support import (
    ITEM_ID,
    MAILBOX,
    OTHER_ITEM_ID,
    error_message,
    fixture_reply,
    reply,
    success_message,
)

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _change(item_id: ItemId = ITEM_ID) -> ItemChange:
    return ItemChange(item_id=item_id, item_type=CalendarItem, updates={"subject": "x"})


# --- GetItem ---------------------------------------------------------------


def test_get_item_decodes_a_contact() -> None:
    """A recorded contact reply becomes one Contact with its id."""
    results = GetItem([ITEM_ID], Contact).parse(
        fixture_reply("GetItem", "contact"), mailbox=MAILBOX
    )

    assert len(results) == 1
    contact = results[0]
    assert isinstance(contact, Contact)
    assert contact.item_id is not None
    assert contact.item_id.change_key


def test_get_item_decodes_a_task_and_a_recurring_meeting() -> None:
    """Task and calendar replies decode to their own model classes."""
    task = GetItem([ITEM_ID], Task).parse(
        fixture_reply("GetItem", "task"), mailbox=MAILBOX
    )[0]
    meeting = GetItem([ITEM_ID], CalendarItem).parse(
        fixture_reply("GetItem", "calendar_recurring"), mailbox=MAILBOX
    )[0]

    assert isinstance(task, Task)
    assert isinstance(meeting, CalendarItem)
    assert meeting.recurrence is not None


def test_get_item_keeps_per_item_errors_in_request_order() -> None:
    """A vanished item gives an ItemNotFoundError in its slot; nothing is raised."""
    results = GetItem([ITEM_ID, OTHER_ITEM_ID], Contact).parse(
        fixture_reply("GetItem", "per_item_error"), mailbox=MAILBOX
    )

    assert isinstance(results[0], Contact)
    error = results[1]
    assert isinstance(error, ItemNotFoundError)
    assert error.response_code == "ErrorItemNotFound"
    assert error.operation == "GetItem"
    assert error.mailbox == MAILBOX


def test_get_item_of_another_kind_is_not_found() -> None:
    """An id naming a distribution list, when contacts were asked for, is an error."""
    inner = (
        '<m:Items><t:DistributionList><t:ItemId Id="dl1" ChangeKey="ck"/>'
        "</t:DistributionList></m:Items>"
    )
    results = GetItem([ITEM_ID], Contact).parse(
        reply("GetItem", success_message("GetItem", inner)), mailbox=MAILBOX
    )

    assert isinstance(results[0], ItemNotFoundError)
    assert "DistributionList" in str(results[0])


def test_get_item_refuses_a_reply_with_the_wrong_count() -> None:
    """One message for two requested ids is a decode error, not a silent gap."""
    inner = '<m:Items><t:Contact><t:ItemId Id="a" ChangeKey="b"/></t:Contact></m:Items>'
    operation = GetItem([ITEM_ID, OTHER_ITEM_ID], Contact)

    with pytest.raises(ResponseDecodeError, match="expected 2"):
        operation.parse(
            reply("GetItem", success_message("GetItem", inner)), mailbox=MAILBOX
        )


def test_get_item_success_without_items_is_a_decode_error() -> None:
    """A success message lacking m:Items names the operation and mailbox."""
    with pytest.raises(ResponseDecodeError) as caught:
        GetItem([ITEM_ID], Contact).parse(
            reply("GetItem", success_message("GetItem")), mailbox=MAILBOX
        )

    assert caught.value.operation == "GetItem"
    assert caught.value.mailbox == MAILBOX


def test_get_item_accepts_occurrence_ids() -> None:
    """An OccurrenceItemId is sent as t:OccurrenceItemId."""
    occurrence = OccurrenceItemId(recurring_master_id="master", instance_index=3)
    request = GetItem([occurrence], CalendarItem).build()

    assert request.find(".//{*}OccurrenceItemId").get("InstanceIndex") == "3"


def test_get_item_shape_is_id_only_plus_explicit_paths() -> None:
    """The shape never asks for AllProperties and lists the model's paths."""
    request = GetItem([ITEM_ID], CalendarItem).build()

    assert request.findtext(".//{*}BaseShape") == "IdOnly"
    uris = {path.get("FieldURI") for path in request.iterfind(".//{*}FieldURI")}
    assert {"calendar:Start", "calendar:End", "item:Body"} <= uris


# --- warnings ----------------------------------------------------------------


def test_warning_with_content_is_a_success_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Warning message that carries its item counts as success, logged once."""
    inner = '<m:Items><t:Task><t:ItemId Id="a" ChangeKey="b"/></t:Task></m:Items>'
    body = success_message("GetItem", inner, warning="ErrorSomethingMinor")

    with caplog.at_level(logging.WARNING, logger="crm_ews"):
        results = GetItem([ITEM_ID], Task).parse(
            reply("GetItem", body), mailbox=MAILBOX
        )

    assert isinstance(results[0], Task)
    assert [record.response_code for record in caplog.records] == [  # type: ignore[attr-defined]  # set via extra
        "ErrorSomethingMinor"
    ]


def test_warning_without_content_is_that_items_error() -> None:
    """Batch processing stopped: the warned item gets a RetryLaterError."""
    body = error_message("CreateItem", "ErrorItemNotFound") + success_message(
        "CreateItem", warning="ErrorBatchProcessingStopped"
    )
    results = CreateItem([Task(subject="a"), Task(subject="b")]).parse(
        reply("CreateItem", body), mailbox=MAILBOX
    )

    assert isinstance(results[0], ItemNotFoundError)
    assert isinstance(results[1], RetryLaterError)
    assert results[1].response_code == "ErrorBatchProcessingStopped"


# --- CreateItem ------------------------------------------------------------


def test_create_item_returns_ids_and_errors_in_order() -> None:
    """The recorded batch with one refused item keeps its order."""
    items = [
        CalendarItem(subject=f"m{n}", start=START, end=START + timedelta(hours=1))
        for n in range(3)
    ]
    results = CreateItem(items).parse(
        fixture_reply("CreateItem", "batch_one_error"), mailbox=MAILBOX
    )

    assert isinstance(results[0], ItemId)
    assert results[0].change_key
    assert isinstance(results[1], InvalidRequestError)
    assert results[1].response_code == "ErrorCalendarEndDateIsEarlierThanStartDate"
    assert isinstance(results[2], ItemId)


def test_create_item_never_mails_attendees_by_default() -> None:
    """SendMeetingInvitations defaults to SendToNone."""
    request = CreateItem([Task(subject="a")]).build()

    assert request.get("SendMeetingInvitations") == "SendToNone"
    assert request.get("MessageDisposition") is None


def test_create_item_without_item_id_is_a_decode_error() -> None:
    """A created item element with no t:ItemId cannot be used."""
    inner = "<m:Items><t:Task/></m:Items>"

    with pytest.raises(ResponseDecodeError, match="ItemId"):
        CreateItem([Task(subject="a")]).parse(
            reply("CreateItem", success_message("CreateItem", inner)), mailbox=MAILBOX
        )


# --- UpdateItem ------------------------------------------------------------


def test_update_item_returns_the_new_change_key() -> None:
    """A successful update hands back the id with its new change key."""
    results = UpdateItem([_change()]).parse(
        fixture_reply("UpdateItem", "success_new_changekey"), mailbox=MAILBOX
    )

    assert isinstance(results[0], ItemId)
    assert results[0].change_key != ITEM_ID.change_key


def test_update_item_stale_change_key_is_an_edit_conflict() -> None:
    """ErrorIrresolvableConflict becomes an EditConflictError in the item's slot."""
    results = UpdateItem([_change()]).parse(
        fixture_reply("UpdateItem", "irresolvable_conflict"), mailbox=MAILBOX
    )

    assert isinstance(results[0], EditConflictError)


def test_update_item_surfaces_conflict_counts(caplog: pytest.LogCaptureFixture) -> None:
    """parse_results keeps ConflictResults/Count and a resolved conflict is logged."""
    inner = (
        '<m:Items><t:CalendarItem><t:ItemId Id="a" ChangeKey="new"/>'
        "</t:CalendarItem></m:Items>"
        "<m:ConflictResults><t:Count>2</t:Count></m:ConflictResults>"
    )
    operation = UpdateItem(
        [_change()], conflict_resolution=ConflictResolution.AUTO_RESOLVE
    )

    with caplog.at_level(logging.WARNING, logger="crm_ews"):
        results = operation.parse_results(
            reply("UpdateItem", success_message("UpdateItem", inner)), mailbox=MAILBOX
        )

    assert results == [UpdateResult(ItemId(id="a", change_key="new"), 2)]
    assert len(caplog.records) == 1


def test_update_item_defaults_are_safe() -> None:
    """NeverOverwrite and SendToNone are what an update sends unless told."""
    request = UpdateItem([_change()]).build()

    assert request.get("ConflictResolution") == "NeverOverwrite"
    assert request.get("SendMeetingInvitationsOrCancellations") == "SendToNone"


def test_update_item_refuses_an_id_without_change_key() -> None:
    """An ItemChange whose id lost its change key is refused before sending."""
    change = ItemChange.model_construct(
        item_id=ItemId(id="a"),
        item_type=CalendarItem,
        updates={"subject": "x"},
        extended_properties=(),
        deleted_extended_properties=(),
    )

    with pytest.raises(ValueError, match="change_key"):
        UpdateItem([change])


# --- DeleteItem ------------------------------------------------------------


def test_delete_item_returns_none_per_deleted_item() -> None:
    """Two deletions give two Nones."""
    results = DeleteItem([ITEM_ID, OTHER_ITEM_ID]).parse(
        fixture_reply("DeleteItem", "move_to_deleted_items"), mailbox=MAILBOX
    )

    assert results == [None, None]


def test_delete_item_error_is_returned_not_raised() -> None:
    """A refused deletion is an exception instance in the list."""
    results = DeleteItem([ITEM_ID]).parse(
        reply("DeleteItem", error_message("DeleteItem", "ErrorAccessDenied")),
        mailbox=MAILBOX,
    )

    assert isinstance(results[0], EWSError)
    assert results[0].response_code == "ErrorAccessDenied"


# --- argument checks -------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: GetItem([], Contact), ValueError),
        (lambda: GetItem(ITEM_ID, Contact), TypeError),  # type: ignore[arg-type]
        (lambda: GetItem(["id"], Contact), TypeError),  # type: ignore[list-item]
        (lambda: GetItem([ITEM_ID], dict), TypeError),  # type: ignore[type-var]
        (lambda: GetItem([ITEM_ID], Contact, extended_properties="x"), TypeError),  # type: ignore[arg-type]
        (lambda: CreateItem([]), ValueError),
        (lambda: CreateItem([object()]), TypeError),  # type: ignore[list-item]
        (lambda: CreateItem([Task()], saved_item_folder_id="inbox"), TypeError),  # type: ignore[arg-type]
        (lambda: CreateItem([Task()], send_meeting_invitations="Always"), ValueError),  # type: ignore[arg-type]
        (lambda: UpdateItem([]), ValueError),
        (lambda: UpdateItem([ITEM_ID]), TypeError),  # type: ignore[list-item]
        (lambda: UpdateItem([_change()], conflict_resolution="Merge"), ValueError),  # type: ignore[arg-type]
        (lambda: DeleteItem([]), ValueError),
        (lambda: DeleteItem([ITEM_ID], delete_type=3), TypeError),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_fail_before_sending(
    build: object, error: type[Exception]
) -> None:
    """Misuse raises ValueError/TypeError from the constructor."""
    with pytest.raises(error):
        build()  # type: ignore[operator]


def test_options_accept_wire_strings() -> None:
    """An option given as its EWS spelling is taken as the enum member."""
    operation = DeleteItem([ITEM_ID], delete_type="HardDelete")  # type: ignore[arg-type]

    assert operation.build().get("DeleteType") == "HardDelete"


def test_operation_metadata() -> None:
    """Reads are idempotent, writes are not."""
    assert GetItem.is_idempotent
    assert not CreateItem.is_idempotent
    assert not UpdateItem.is_idempotent
    assert not DeleteItem.is_idempotent
    assert [GetItem.name, CreateItem.name, UpdateItem.name, DeleteItem.name] == [
        "GetItem",
        "CreateItem",
        "UpdateItem",
        "DeleteItem",
    ]
