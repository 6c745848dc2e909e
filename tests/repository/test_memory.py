"""Details of the in-memory adapter beyond the contract."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from crm_ews.errors import RecordVersionConflictError
from crm_ews.repository import (
    Contact,
    InMemoryContactRepository,
    InMemoryRepository,
)

MAILBOX = "owner@example.com"


def test_base_class_needs_an_entity_subclass() -> None:
    """InMemoryRepository itself cannot be instantiated."""
    with pytest.raises(TypeError, match="entity subclass"):
        InMemoryRepository[Contact]()


def test_page_size_must_be_positive() -> None:
    """A page size of zero is refused."""
    with pytest.raises(ValueError, match="page_size"):
        InMemoryContactRepository(page_size=0)


def test_empty_mailbox_is_rejected() -> None:
    """Every call refuses an empty mailbox."""
    repository = InMemoryContactRepository()
    with pytest.raises(ValueError, match="mailbox"):
        repository.get("  ", "x")


def test_garbage_cursor_is_rejected() -> None:
    """A cursor the repository never issued raises ValueError."""
    with pytest.raises(ValueError, match="cursor"):
        InMemoryContactRepository().list_changes(MAILBOX, "yesterday")


def test_concurrent_creates_with_one_key_make_one_record() -> None:
    """Racing creates with the same key from many threads store one record."""
    repository = InMemoryContactRepository()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(
                lambda index: repository.create(
                    MAILBOX, Contact(surname=f"n{index}"), idempotency_key="same"
                ),
                range(32),
            )
        )

    assert {record.id for record in results} == {results[0].id}
    assert len(repository.records(MAILBOX)) == 1


def test_conflict_reports_current_version() -> None:
    """RecordVersionConflictError carries the version the record has now."""
    repository = InMemoryContactRepository()
    created = repository.create(MAILBOX, Contact(surname="a"), idempotency_key="k")
    updated = repository.update(
        MAILBOX, created.model_copy(update={"surname": "b"}), expected_version="1"
    )

    with pytest.raises(RecordVersionConflictError) as caught:
        repository.update(MAILBOX, created, expected_version="1")

    assert caught.value.current_version == updated.version
    assert caught.value.mailbox == MAILBOX


def test_update_needs_an_id() -> None:
    """update of a record without id raises ValueError."""
    with pytest.raises(ValueError, match="id"):
        InMemoryContactRepository().update(MAILBOX, Contact(), expected_version="1")


def test_cursor_skips_other_owners_writes() -> None:
    """After a final page the cursor covers other owners' writes too."""
    repository = InMemoryContactRepository()
    repository.create("other@example.com", Contact(), idempotency_key="k")

    page = repository.list_changes(MAILBOX, None)

    assert page.changed == ()
    assert page.next_cursor == "1"
