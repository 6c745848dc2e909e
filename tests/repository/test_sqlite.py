"""Details of the SQLite adapter beyond the contract: durability and seeding."""

from __future__ import annotations

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from crm_ews.errors import RepositoryError
from crm_ews.repository import Contact, EntityType, SQLiteCRM
from crm_ews.repository.sqlite import SCHEMA_VERSION

MAILBOX = "owner@example.com"
ANCHOR = date(2030, 1, 7)


def test_records_survive_reopening(tmp_path: Path) -> None:
    """A record written before close is read back by a new instance."""
    path = tmp_path / "crm.db"
    with SQLiteCRM(path) as crm:
        created = crm.repository(EntityType.CONTACT).create(
            MAILBOX, Contact(surname="Okafor"), idempotency_key="k"
        )

    with SQLiteCRM(path) as crm:
        fetched = crm.repository(EntityType.CONTACT).get(MAILBOX, created.id or "")

    assert fetched == created


def test_database_uses_wal_and_records_schema_version(tmp_path: Path) -> None:
    """The file is in WAL mode and carries the schema version."""
    path = tmp_path / "crm.db"
    SQLiteCRM(path).close()

    connection = sqlite3.connect(path)
    try:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        version = connection.execute("PRAGMA user_version").fetchone()[0]
    finally:
        connection.close()

    assert (mode, version) == ("wal", SCHEMA_VERSION)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    """A database written by a newer crm_ews raises instead of being changed."""
    path = tmp_path / "crm.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    connection.close()

    with pytest.raises(RepositoryError, match="schema"):
        SQLiteCRM(path)


def test_idempotency_holds_across_connections(tmp_path: Path) -> None:
    """Two instances on one file creating with one key share one record."""
    path = tmp_path / "crm.db"
    with SQLiteCRM(path) as first, SQLiteCRM(path) as second:
        one = first.repository(EntityType.TASK)
        two = second.repository(EntityType.TASK)
        sample = first.seed_sample(MAILBOX, 1, 3, anchor=ANCHOR).tasks[0]

        again = two.create(
            MAILBOX, sample.model_copy(update={"id": None}), idempotency_key="x"
        )
        repeat = one.create(
            MAILBOX, sample.model_copy(update={"id": None}), idempotency_key="x"
        )

        assert repeat.id == again.id
        assert len(one.records(MAILBOX)) == 2


def test_locked_database_raises_transient_error(tmp_path: Path) -> None:
    """A write blocked by another process's lock is a transient RepositoryError."""
    path = tmp_path / "crm.db"
    with SQLiteCRM(path, busy_timeout=0) as crm:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(RepositoryError) as caught:
                crm.repository(EntityType.CONTACT).create(
                    MAILBOX, Contact(), idempotency_key="k"
                )
        finally:
            blocker.rollback()
            blocker.close()

    assert caught.value.is_transient is True
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)


def test_damaged_row_raises_repository_error(tmp_path: Path) -> None:
    """A row whose JSON no longer validates raises RepositoryError on read."""
    path = tmp_path / "crm.db"
    with SQLiteCRM(path) as crm:
        repository = crm.repository(EntityType.CONTACT)
        created = repository.create(MAILBOX, Contact(), idempotency_key="k")
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("UPDATE contacts SET fields = '{\"phones\": 3}'")
        connection.close()

        with pytest.raises(RepositoryError, match="could not be read"):
            repository.get(MAILBOX, created.id or "")


def test_closed_database_raises_runtime_error(tmp_path: Path) -> None:
    """Using a repository after close raises RuntimeError; close is idempotent."""
    crm = SQLiteCRM(tmp_path / "crm.db")
    repository = crm.repository(EntityType.CONTACT)
    crm.close()
    crm.close()

    with pytest.raises(RuntimeError, match="closed"):
        repository.get(MAILBOX, "x")


def test_repository_accessor_returns_one_object_per_entity(tmp_path: Path) -> None:
    """repository(entity) returns the same object each time, of that entity."""
    with SQLiteCRM(tmp_path / "crm.db") as crm:
        first = crm.repository(EntityType.APPOINTMENT)

        assert crm.repository(EntityType.APPOINTMENT) is first
        assert first.entity is EntityType.APPOINTMENT


def test_seed_sample_includes_recurring_and_all_day(tmp_path: Path) -> None:
    """Seeded appointments include a weekly series and an all-day event."""
    with SQLiteCRM(tmp_path / "crm.db") as crm:
        data = crm.seed_sample(MAILBOX, 5, 11, anchor=ANCHOR)

    assert len(data.appointments) == len(data.contacts) == len(data.tasks) == 5
    assert data.appointments[0].recurrence is not None
    assert data.appointments[1].is_all_day is True


def test_seed_sample_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    """The same seed gives the same content, and re-seeding adds nothing."""
    with SQLiteCRM(tmp_path / "a.db") as first, SQLiteCRM(tmp_path / "b.db") as second:
        one = first.seed_sample(MAILBOX, 4, 7, anchor=ANCHOR)
        two = second.seed_sample(MAILBOX, 4, 7, anchor=ANCHOR)
        again = first.seed_sample(MAILBOX, 4, 7, anchor=ANCHOR)
        stored = first.repository(EntityType.CONTACT).records(MAILBOX)

    assert [c.sync_fields() for c in one.contacts] == [
        c.sync_fields() for c in two.contacts
    ]
    assert [a.sync_fields() for a in one.appointments] == [
        a.sync_fields() for a in two.appointments
    ]
    assert [c.id for c in again.contacts] == [c.id for c in one.contacts]
    assert len(stored) == 4


def test_seed_sample_skips_deleted_records(tmp_path: Path) -> None:
    """Re-seeding leaves out a sample record deleted since, creating no new one."""
    with SQLiteCRM(tmp_path / "crm.db") as crm:
        first = crm.seed_sample(MAILBOX, 2, 1, anchor=ANCHOR)
        crm.repository(EntityType.TASK).delete(MAILBOX, first.tasks[0].id or "")

        again = crm.seed_sample(MAILBOX, 2, 1, anchor=ANCHOR)

    assert [task.id for task in again.tasks] == [first.tasks[1].id]


def test_seed_sample_rejects_negative_count(tmp_path: Path) -> None:
    """A negative record count raises ValueError."""
    with SQLiteCRM(tmp_path / "crm.db") as crm, pytest.raises(ValueError, match="n"):
        crm.seed_sample(MAILBOX, -1, 0)


def test_constructor_rejects_bad_options(tmp_path: Path) -> None:
    """page_size below 1 and a negative busy timeout are refused."""
    with pytest.raises(ValueError, match="page_size"):
        SQLiteCRM(tmp_path / "crm.db", page_size=0)
    with pytest.raises(ValueError, match="busy_timeout"):
        SQLiteCRM(tmp_path / "crm.db", busy_timeout=-1)
