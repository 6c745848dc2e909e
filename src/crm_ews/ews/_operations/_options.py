"""The policy enums operations take: traversal, conflicts, deletion, meetings.

Values are the EWS wire strings, so ``str(option)`` is what goes in the
request; Python names are the snake-case reading of them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AffectedTaskOccurrences",
    "ConflictResolution",
    "DeleteType",
    "FolderTraversal",
    "SendMeetingInvitations",
    "SendMeetingUpdates",
]


class FolderTraversal(StrEnum):
    """How far ``FindFolder`` looks below the parent folder."""

    #: Direct children only.
    SHALLOW = "Shallow"
    #: The whole subtree.
    DEEP = "Deep"


class ConflictResolution(StrEnum):
    """What ``UpdateItem`` does when the item changed since it was read."""

    #: Refuse the update (``EditConflictError``) if the ChangeKey is stale.
    NEVER_OVERWRITE = "NeverOverwrite"
    #: Let the server merge non-conflicting property changes.
    AUTO_RESOLVE = "AutoResolve"
    #: Apply the update regardless of the ChangeKey.
    ALWAYS_OVERWRITE = "AlwaysOverwrite"


class DeleteType(StrEnum):
    """Where ``DeleteItem`` puts the item."""

    #: Gone for good; not recoverable by the user.
    HARD_DELETE = "HardDelete"
    #: Into the dumpster (Recoverable Items); the user can restore it.
    SOFT_DELETE = "SoftDelete"
    #: Into the Deleted Items folder, as a user's delete would.
    MOVE_TO_DELETED_ITEMS = "MoveToDeletedItems"


class AffectedTaskOccurrences(StrEnum):
    """Which occurrences of a recurring task ``DeleteItem`` removes."""

    ALL_OCCURRENCES = "AllOccurrences"
    SPECIFIED_OCCURRENCE_ONLY = "SpecifiedOccurrenceOnly"


class SendMeetingInvitations(StrEnum):
    """Whether creating or deleting a meeting mails its attendees.

    Used for ``CreateItem``'s invitations and ``DeleteItem``'s cancellations.
    A CRM sync writes on the user's behalf, so the default everywhere is
    :attr:`SEND_TO_NONE`: no mail goes out that the user did not send.
    """

    SEND_TO_NONE = "SendToNone"
    SEND_ONLY_TO_ALL = "SendOnlyToAll"
    SEND_TO_ALL_AND_SAVE_COPY = "SendToAllAndSaveCopy"


class SendMeetingUpdates(StrEnum):
    """Whether updating a meeting mails its attendees (``UpdateItem``)."""

    SEND_TO_NONE = "SendToNone"
    SEND_ONLY_TO_ALL = "SendOnlyToAll"
    SEND_ONLY_TO_CHANGED = "SendOnlyToChanged"
    SEND_TO_ALL_AND_SAVE_COPY = "SendToAllAndSaveCopy"
    SEND_TO_CHANGED_AND_SAVE_COPY = "SendToChangedAndSaveCopy"
