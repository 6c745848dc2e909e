"""Planning: pure functions from (change, link, policy) to one action.

Nothing here performs I/O.  The engine reads both sides and the state store,
asks these functions what to do, and applies the answer; tests call them
directly with hand-made links.

Change detection is two-staged: a side counts as changed only when its
version moved (EWS ChangeKey, CRM version) AND the hash of its mapped
projection differs from the one stored at the last sync.  The first test is
exact for the engine's own writes (their new version is stored), the second
stops churn from fields that do not sync.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from crm_ews.repository import Appointment, Contact, CRMRecord, Task, projection_hash
from crm_ews.sync._actions import (
    Action,
    AdoptCreated,
    CreateInCRM,
    CreateInExchange,
    DeleteInCRM,
    DeleteInExchange,
    LinkMatched,
    Refresh,
    ResolveConflict,
    Skip,
    Unlink,
    UpdateCRM,
    UpdateExchange,
)
from crm_ews.sync._backend import MailboxItem
from crm_ews.sync._policy import (
    ConflictChoice,
    ConflictPolicy,
    CRMDeletePolicy,
    EntityPolicy,
    EWSDeletePolicy,
    TimeWindow,
)
from crm_ews.sync._store import Link, LinkState

__all__ = [
    "choose_winner",
    "crm_changed",
    "exchange_changed",
    "in_window",
    "match_key",
    "plan_crm_change",
    "plan_crm_delete",
    "plan_exchange_delete",
    "plan_exchange_upsert",
]

#: Link states in which the engine leaves a pair alone until a person acts.
_WAITING = frozenset({LinkState.CONFLICT})


def crm_changed(link: Link, record: CRMRecord) -> bool:
    """Whether the CRM record changed since the link's last sync."""
    if record.version is not None and record.version == link.crm_version:
        return False
    return projection_hash(record) != link.crm_hash


def exchange_changed(link: Link, item: MailboxItem) -> bool:
    """Whether the Exchange item changed since the link's last sync."""
    if item.ref.change_key == link.ews_change_key:
        return False
    return projection_hash(item.record) != link.ews_hash


def match_key(record: CRMRecord) -> tuple[str, ...] | None:
    """The key first-time linking matches records and items by.

    Appointments by subject, start and end; contacts by their first e-mail
    address; tasks by subject and due date.  ``None`` when the record has
    nothing to match on (a contact without address, an untitled task).
    """
    if isinstance(record, Appointment):
        subject = (record.subject or "").strip().casefold()
        return (
            "appointment",
            subject,
            record.start.astimezone(UTC).isoformat(),
            record.end.astimezone(UTC).isoformat(),
        )
    if isinstance(record, Contact):
        if not record.email_addresses:
            return None
        return ("contact", record.email_addresses[0].strip().casefold())
    if isinstance(record, Task):
        subject = (record.subject or "").strip().casefold()
        if not subject:
            return None
        due = record.due_date.isoformat() if record.due_date else ""
        return ("task", subject, due)
    return None


def _as_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def in_window(record: CRMRecord, window: TimeWindow | None, now: datetime) -> bool:
    """Whether an appointment falls in the sync window (others always do).

    A recurring series counts by its whole range: it is inside while any part
    of the range overlaps the window.
    """
    if window is None or not isinstance(record, Appointment):
        return True
    earliest = now - window.past
    latest = now + window.future
    if record.start > latest:
        return False
    if record.recurrence is None:
        return record.end >= earliest
    recurrence = record.recurrence
    if recurrence.end_date is not None:
        return _as_utc(recurrence.end_date) + (record.end - record.start) >= earliest
    # Numbered or endless series: the end is not cheap to compute, keep it.
    return True


def plan_exchange_upsert(
    item: MailboxItem,
    link: Link | None,
    crm_record: CRMRecord | None,
    policy: EntityPolicy,
    *,
    correlated: Link | None,
    match: CRMRecord | None,
    now: datetime,
) -> Action:
    """Decide what an Exchange create or update means.

    Args:
        item: The item as Exchange reports it now.
        link: The link holding the item's id, if any.
        crm_record: The linked CRM record when the CRM also reported it as
            changed in this run, else ``None``.
        policy: The entity's policy.
        correlated: A pending link whose correlation id the item carries.
        match: An unlinked CRM record matching the item (first-time linking).
        now: The run's start, for the appointment window.
    """
    ref = item.ref.item_id
    if link is None:
        if correlated is not None:
            return AdoptCreated(correlated, item)
        if not in_window(item.record, policy.window, now):
            return Skip("outside_window", ews_item_id=ref)
        if match is not None:
            return LinkMatched(match, item)
        if not policy.direction.writes_crm:
            return Skip("direction", ews_item_id=ref)
        return CreateInCRM(item)

    if link.state is LinkState.DELETED:
        return Skip("tombstoned", crm_id=link.crm_id, ews_item_id=ref)
    if link.state in _WAITING:
        return Skip("awaiting_resolution", crm_id=link.crm_id, ews_item_id=ref)
    if not exchange_changed(link, item):
        if item.ref.change_key != link.ews_change_key:
            return Refresh(link, item=item)
        return Skip("unchanged", crm_id=link.crm_id, ews_item_id=ref)
    if crm_record is not None and crm_changed(link, crm_record):
        return ResolveConflict(link, crm_record, item)
    if not policy.direction.writes_crm:
        return Refresh(link, item=item, reason="direction")
    if link.crm_id is None:
        return CreateInCRM(item, link=link, reason="retry_pending_create")
    return UpdateCRM(link, item)


def plan_exchange_delete(
    link: Link | None, crm_record: CRMRecord | None, policy: EntityPolicy
) -> Action:
    """Decide what an Exchange deletion means.

    A CRM edit made since the last sync outlives the deletion: the item is
    created again rather than losing the edit.
    """
    if link is None:
        return Skip("not_linked")
    if link.state is LinkState.DELETED:
        return Skip("tombstoned", crm_id=link.crm_id, ews_item_id=link.ews_item_id)
    edited = crm_record is not None and crm_changed(link, crm_record)
    if edited and crm_record is not None and policy.direction.writes_exchange:
        return CreateInExchange(crm_record, link=link, reason="edited_in_crm")
    if link.crm_id is None:
        return Unlink(link, "exchange_item_gone")
    if not policy.direction.writes_crm or policy.crm_delete is CRMDeletePolicy.IGNORE:
        return Unlink(link, "exchange_delete_ignored")
    return DeleteInCRM(link)


def plan_crm_change(
    record: CRMRecord,
    link: Link | None,
    policy: EntityPolicy,
    *,
    selected: bool,
    now: datetime,
) -> Action:
    """Decide what a CRM create or update means.

    Args:
        record: The record as the CRM reports it now.
        link: The link holding the record's id, if any.
        policy: The entity's policy.
        selected: Whether the repository's selection predicate accepts it.
        now: The run's start, for the appointment window.
    """
    crm_id = record.id
    if link is None:
        if not selected:
            return Skip("not_selected", crm_id=crm_id)
        if not in_window(record, policy.window, now):
            return Skip("outside_window", crm_id=crm_id)
        if not policy.direction.writes_exchange:
            return Skip("direction", crm_id=crm_id)
        return CreateInExchange(record)

    if link.state is LinkState.DELETED:
        if selected and policy.direction.writes_exchange:
            return CreateInExchange(record, link=link, reason="revived_in_crm")
        return Skip("tombstoned", crm_id=crm_id)
    if link.state in _WAITING:
        return Skip("awaiting_resolution", crm_id=crm_id)
    if not selected:
        # Leaving the selection is not a deletion: nothing is removed.
        return Unlink(link, "left_selection")
    if not crm_changed(link, record):
        if record.version != link.crm_version:
            return Refresh(link, record=record)
        return Skip("unchanged", crm_id=crm_id, ews_item_id=link.ews_item_id)
    if not policy.direction.writes_exchange:
        return Refresh(link, record=record, reason="direction")
    if link.ews_item_id is None:
        return CreateInExchange(record, link=link, reason="retry_pending_create")
    if link.is_read_only and policy.attendee_copies_read_only:
        return Refresh(link, record=record, reason="read_only_in_exchange")
    return UpdateExchange(link, record)


def plan_crm_delete(link: Link | None, policy: EntityPolicy) -> Action:
    """Decide what a CRM deletion means."""
    if link is None:
        return Skip("not_linked")
    if link.state is LinkState.DELETED:
        return Skip("tombstoned", crm_id=link.crm_id, ews_item_id=link.ews_item_id)
    if link.ews_item_id is None:
        return Unlink(link, "crm_record_gone")
    if (
        not policy.direction.writes_exchange
        or policy.ews_delete is EWSDeletePolicy.IGNORE
    ):
        return Unlink(link, "crm_delete_ignored")
    if link.is_read_only and policy.attendee_copies_read_only:
        return Unlink(link, "read_only_in_exchange")
    return DeleteInExchange(link)


def choose_winner(
    policy: EntityPolicy, record: CRMRecord, item: MailboxItem
) -> ConflictChoice:
    """Apply the conflict policy to a pair changed on both sides.

    ``NEWEST_WINS`` compares the CRM record's ``modified_at`` with the item's
    last modification; when either is unknown or they are equal the pair is
    parked rather than guessed.  A one-way direction overrides a choice that
    would write the side it does not write: the source side wins instead.
    """
    choice = _policy_choice(policy, record, item)
    if choice is ConflictChoice.EXCHANGE and not policy.direction.writes_crm:
        return ConflictChoice.CRM
    if choice is ConflictChoice.CRM and not policy.direction.writes_exchange:
        return ConflictChoice.EXCHANGE
    return choice


def _policy_choice(
    policy: EntityPolicy, record: CRMRecord, item: MailboxItem
) -> ConflictChoice:
    """The conflict rule's answer, before the direction is applied."""
    if policy.conflict is ConflictPolicy.CRM_WINS:
        return ConflictChoice.CRM
    if policy.conflict is ConflictPolicy.EXCHANGE_WINS:
        return ConflictChoice.EXCHANGE
    if policy.conflict is ConflictPolicy.PARK:
        return ConflictChoice.PARK
    if policy.conflict is ConflictPolicy.CALLABLE:
        resolver = policy.conflict_resolver
        if resolver is None:  # pragma: no cover - EntityPolicy refuses this
            return ConflictChoice.PARK
        return ConflictChoice(resolver(record, item.record))

    crm_time = record.modified_at
    ews_time = item.last_modified
    if crm_time is None or ews_time is None or crm_time == ews_time:
        return ConflictChoice.PARK
    return ConflictChoice.CRM if crm_time > ews_time else ConflictChoice.EXCHANGE
