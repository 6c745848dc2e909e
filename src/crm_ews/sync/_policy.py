"""Sync policies: direction, conflicts, deletes, guards and windows per entity.

Policies are plain frozen values.  The conflict policy has no default on
purpose: a two-way sync that silently picks a winner loses somebody's edit, so
the caller names the rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from crm_ews.repository import EntityType

if TYPE_CHECKING:
    from crm_ews.repository import CRMRecord

__all__ = [
    "CRMDeletePolicy",
    "ConflictChoice",
    "ConflictPolicy",
    "ConflictResolver",
    "Direction",
    "EWSDeletePolicy",
    "EntityPolicy",
    "MassDeletionGuard",
    "TimeWindow",
]


class Direction(StrEnum):
    """Which way changes flow for one entity."""

    TWO_WAY = "two_way"
    CRM_TO_EXCHANGE = "crm_to_exchange"
    EXCHANGE_TO_CRM = "exchange_to_crm"
    OFF = "off"

    @property
    def writes_exchange(self) -> bool:
        """Whether CRM changes are written to Exchange."""
        return self in (Direction.TWO_WAY, Direction.CRM_TO_EXCHANGE)

    @property
    def writes_crm(self) -> bool:
        """Whether Exchange changes are written to the CRM."""
        return self in (Direction.TWO_WAY, Direction.EXCHANGE_TO_CRM)


class ConflictPolicy(StrEnum):
    """What happens when both sides changed the same pair since the last run.

    ``CALLABLE`` needs :attr:`EntityPolicy.conflict_resolver`.
    """

    CRM_WINS = "crm_wins"
    EXCHANGE_WINS = "exchange_wins"
    NEWEST_WINS = "newest_wins"
    CALLABLE = "callable"
    PARK = "park"


class ConflictChoice(StrEnum):
    """What a conflict resolver decided for one pair."""

    CRM = "crm"
    EXCHANGE = "exchange"
    PARK = "park"


#: A user-supplied resolver: (CRM record, Exchange record) -> choice.  Both
#: records are neutral; the Exchange one carries no id or version.
ConflictResolver = Callable[["CRMRecord", "CRMRecord"], ConflictChoice]


class EWSDeletePolicy(StrEnum):
    """What a CRM deletion does to the linked Exchange item."""

    MOVE_TO_DELETED_ITEMS = "move_to_deleted_items"
    IGNORE = "ignore"


class CRMDeletePolicy(StrEnum):
    """What an Exchange deletion does to the linked CRM record.

    ``SOFT_DELETE`` calls the repository's ``delete``, which the adapter
    implements as its CRM's (soft) delete.
    """

    SOFT_DELETE = "soft_delete"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class MassDeletionGuard:
    """Refuse a run that would delete too much of one side.

    A run is refused when the deletions it plans for one side exceed BOTH
    ``max_ratio`` of that side's linked pairs and ``min_count`` items: small
    mailboxes can lose a few items freely, large ones cannot suddenly empty.

    Args:
        max_ratio: Largest fraction of linked pairs one run may delete (0..1).
        min_count: Deletions up to this count are always allowed.
    """

    max_ratio: float = 0.5
    min_count: int = 10

    def __post_init__(self) -> None:
        if not 0.0 <= self.max_ratio <= 1.0:
            raise ValueError("max_ratio must be between 0 and 1")
        if self.min_count < 0:
            raise ValueError("min_count must not be negative")

    def allows(self, planned: int, linked: int) -> bool:
        """Whether ``planned`` deletions out of ``linked`` pairs may proceed."""
        if planned <= self.min_count:
            return True
        return linked > 0 and planned / linked <= self.max_ratio


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The span of appointments that sync, relative to the run's start.

    Appointments that end before ``now - past`` or start after
    ``now + future`` are skipped with reason ``outside_window``; recurring
    series count by their whole range.
    """

    past: timedelta = timedelta(days=30)
    future: timedelta = timedelta(days=365)

    def __post_init__(self) -> None:
        if self.past < timedelta(0) or self.future < timedelta(0):
            raise ValueError("time window bounds must not be negative")


@dataclass(frozen=True, slots=True)
class EntityPolicy:
    """Everything the engine needs to know about one entity's sync.

    Args:
        entity: Appointments, contacts or tasks.
        conflict: The conflict rule; required, there is no silent default.
        direction: Which way changes flow.
        conflict_resolver: The callable for ``ConflictPolicy.CALLABLE``.
        ews_delete: What a CRM deletion does in Exchange.
        crm_delete: What an Exchange deletion does in the CRM.
        mass_deletion: The guard against mirroring a side that emptied.
        window: For appointments, the span that syncs (``None``: all).
        attendee_copies_read_only: Meetings the mailbox owner only attends
            are never written from the CRM side.

    Raises:
        ValueError: ``CALLABLE`` without a resolver, or a window on an entity
            other than appointments.
    """

    entity: EntityType
    conflict: ConflictPolicy
    direction: Direction = Direction.TWO_WAY
    conflict_resolver: ConflictResolver | None = None
    ews_delete: EWSDeletePolicy = EWSDeletePolicy.MOVE_TO_DELETED_ITEMS
    crm_delete: CRMDeletePolicy = CRMDeletePolicy.SOFT_DELETE
    mass_deletion: MassDeletionGuard = field(default_factory=MassDeletionGuard)
    window: TimeWindow | None = None
    attendee_copies_read_only: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity", EntityType(self.entity))
        object.__setattr__(self, "conflict", ConflictPolicy(self.conflict))
        object.__setattr__(self, "direction", Direction(self.direction))
        if self.conflict is ConflictPolicy.CALLABLE and self.conflict_resolver is None:
            raise ValueError("ConflictPolicy.CALLABLE needs a conflict_resolver")
        if self.window is not None and self.entity is not EntityType.APPOINTMENT:
            raise ValueError("a time window applies to appointments only")
