"""The repository contract, run against both reference adapters."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from crm_ews.repository import (
    Appointment,
    Contact,
    CRMRecord,
    EntityType,
    InMemoryAppointmentRepository,
    InMemoryContactRepository,
    InMemoryRepository,
    InMemoryTaskRepository,
    SQLiteCRM,
    Task,
)
from crm_ews.testing.repository_contract import AnyRepository, RepositoryContract

#: A small page size so every listing in the contract spans several pages.
PAGE_SIZE = 4


def _skip_private(mailbox: str, record: CRMRecord) -> bool:
    """Sync everything except records filed under the "Private" category."""
    return "Private" not in getattr(record, "categories", ())


def _memory(entity: EntityType, **options: object) -> AnyRepository:
    classes: dict[EntityType, type[InMemoryRepository[CRMRecord]]] = {
        EntityType.APPOINTMENT: InMemoryAppointmentRepository,  # type: ignore[dict-item]
        EntityType.CONTACT: InMemoryContactRepository,  # type: ignore[dict-item]
        EntityType.TASK: InMemoryTaskRepository,  # type: ignore[dict-item]
    }
    return classes[entity](page_size=PAGE_SIZE, **options)  # type: ignore[arg-type, return-value]


class TestInMemoryRepository(RepositoryContract):
    """The in-memory adapter with change tracking."""

    def make_repository(self, entity: EntityType) -> AnyRepository:
        return _memory(entity)


class _FullListingAppointments(InMemoryAppointmentRepository):
    supports_change_tracking: ClassVar[bool] = False


class _FullListingContacts(InMemoryContactRepository):
    supports_change_tracking: ClassVar[bool] = False


class _FullListingTasks(InMemoryTaskRepository):
    supports_change_tracking: ClassVar[bool] = False


class TestInMemoryFullListing(RepositoryContract):
    """The in-memory adapter posing as a CRM without change tracking."""

    def make_repository(self, entity: EntityType) -> AnyRepository:
        if entity is EntityType.APPOINTMENT:
            return _FullListingAppointments(page_size=PAGE_SIZE)
        if entity is EntityType.CONTACT:
            return _FullListingContacts(page_size=PAGE_SIZE)
        return _FullListingTasks(page_size=PAGE_SIZE)


class TestInMemoryWithSelector(RepositoryContract):
    """The in-memory adapter with a belongs_to predicate that skips "Private"."""

    def make_repository(self, entity: EntityType) -> AnyRepository:
        return _memory(entity, selector=_skip_private)

    def selection_cases(self, entity: EntityType) -> Iterable[tuple[CRMRecord, bool]]:
        sample = self.sample_record(entity, 0)
        return [
            (sample, True),
            (sample.model_copy(update={"categories": ("Private",)}), False),
        ]


class TestSQLiteCRM(RepositoryContract):
    """The SQLite adapter, one fresh database file per test."""

    @pytest.fixture(autouse=True)
    def _database(self, tmp_path: Path) -> Iterator[None]:
        self.crm = SQLiteCRM(
            tmp_path / "crm.db",
            page_size=PAGE_SIZE,
            selectors={EntityType.TASK: _skip_private},
        )
        yield
        self.crm.close()

    def make_repository(self, entity: EntityType) -> AnyRepository:
        return self.crm.repository(entity)

    def selection_cases(self, entity: EntityType) -> Iterable[tuple[CRMRecord, bool]]:
        sample = self.sample_record(entity, 0)
        private = sample.model_copy(update={"categories": ("Private",)})
        return [(sample, True), (private, entity is not EntityType.TASK)]


def test_record_classes_match_entities() -> None:
    """Each in-memory subclass holds the record class of its entity."""
    assert InMemoryAppointmentRepository.entity is Appointment.entity
    assert InMemoryContactRepository.entity is Contact.entity
    assert InMemoryTaskRepository.entity is Task.entity
