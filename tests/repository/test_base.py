"""ChangeSet validation and the as_async adapter."""

from __future__ import annotations

import asyncio
import threading

import pytest

from crm_ews.errors import RecordNotFoundError
from crm_ews.repository import (
    AsyncCRMRepository,
    ChangeSet,
    Contact,
    EntityType,
    InMemoryContactRepository,
    as_async,
)

MAILBOX = "owner@example.com"


def _stored(record_id: str) -> Contact:
    return Contact(surname=record_id).with_identity(record_id, "1")


def test_change_set_needs_identified_records() -> None:
    """A changed record without id and version is refused."""
    with pytest.raises(ValueError, match="id and a version"):
        ChangeSet(changed=(Contact(),))


def test_change_set_lists_each_id_once() -> None:
    """An id may not be both changed and deleted, nor appear twice."""
    with pytest.raises(ValueError, match="not both"):
        ChangeSet(changed=(_stored("a"),), deleted=("a",))
    with pytest.raises(ValueError, match="once"):
        ChangeSet(deleted=("a", "a"))


def test_full_listing_carries_no_deletions() -> None:
    """Deletions inside a full listing are refused: the engine infers them."""
    with pytest.raises(ValueError, match="full listing"):
        ChangeSet(deleted=("a",), is_full_listing=True)


def test_has_more_needs_a_cursor() -> None:
    """A page that promises more must say where to continue."""
    with pytest.raises(ValueError, match="next_cursor"):
        ChangeSet(has_more=True)


def test_as_async_returns_async_repositories_unchanged() -> None:
    """Wrapping an already async repository is the identity."""
    wrapped = as_async(InMemoryContactRepository())

    assert as_async(wrapped) is wrapped
    assert isinstance(wrapped, AsyncCRMRepository)


def test_as_async_rejects_other_objects() -> None:
    """as_async raises TypeError for something that is not a repository."""
    with pytest.raises(TypeError, match="CRMRepository"):
        as_async(object())  # type: ignore[arg-type]


def test_as_async_runs_calls_off_the_event_loop_thread() -> None:
    """Wrapped calls run in a worker thread, not the loop's thread."""
    seen: list[str] = []

    class Recording(InMemoryContactRepository):
        def get(self, mailbox: str, record_id: str) -> Contact | None:
            seen.append(threading.current_thread().name)
            return super().get(mailbox, record_id)

    async def scenario() -> str:
        await as_async(Recording()).get(MAILBOX, "x")
        return threading.current_thread().name

    loop_thread = asyncio.run(scenario())

    assert seen
    assert seen[0] != loop_thread


def test_as_async_passes_errors_through() -> None:
    """Adapter errors reach the awaiting caller unchanged."""
    wrapped = as_async(InMemoryContactRepository())

    with pytest.raises(RecordNotFoundError):
        asyncio.run(wrapped.delete(MAILBOX, "missing"))


def test_as_async_copies_class_attributes() -> None:
    """The wrapper reports the wrapped entity and tracking capability."""
    wrapped = as_async(InMemoryContactRepository())

    assert type(wrapped).entity is EntityType.CONTACT
    assert type(wrapped).supports_change_tracking is True
    assert "InMemoryContactRepository" in repr(wrapped)
