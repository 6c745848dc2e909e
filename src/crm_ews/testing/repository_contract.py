"""A pytest contract every CRM repository adapter should pass.

Subclass :class:`RepositoryContract` in a test module, name the subclass
``Test...`` and tell it how to build a repository::

    from crm_ews.testing.repository_contract import RepositoryContract


    class TestMyCRM(RepositoryContract):
        def make_repository(self, entity):
            return MyCRM(test_database_url).repository(entity)

pytest then runs every contract test once per entity type. Hooks narrow or
adapt the suite: :attr:`RepositoryContract.entities` for adapters that sync
only some entity types, :meth:`RepositoryContract.close_repository` to tidy
up, :meth:`RepositoryContract.sample_record` and
:meth:`RepositoryContract.rich_record` for CRMs that refuse the built-in
samples, and :meth:`RepositoryContract.selection_cases` to test a
``belongs_to`` predicate.

The contract needs pytest, which the ``test`` extra installs.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import ClassVar, cast
from zoneinfo import ZoneInfo

import pytest

from crm_ews.errors import RecordNotFoundError, RecordVersionConflictError
from crm_ews.repository import (
    AddressKind,
    Appointment,
    ChangeSet,
    Contact,
    CRMRecord,
    CRMRepository,
    EntityType,
    Frequency,
    Importance,
    PhoneKind,
    PostalAddress,
    Recurrence,
    ShowAs,
    Task,
    TaskStatus,
    Weekday,
    WeekOfMonth,
    as_async,
)
from crm_ews.repository._sample import sample_records

__all__ = ["AnyRepository", "Listing", "RepositoryContract", "drain"]

#: A repository of any one entity type, as make_repository returns it.
AnyRepository = (
    CRMRepository[Appointment] | CRMRepository[Contact] | CRMRepository[Task]
)

#: The most pages drain() follows before it calls the listing endless.
MAX_PAGES = 10_000

_ANCHOR = date(2030, 1, 7)


@dataclass
class Listing:
    """Everything a run of :func:`drain` collected, pages merged.

    Attributes:
        changed: Changed records by id, in their latest state.
        deleted: Ids reported deleted.
        cursor: The last page's ``next_cursor``.
        is_full_listing: Whether any page was part of a full listing.
        pages: How many pages were read.
        mentions: Every id in page order, duplicates kept, to check that
            each appears once.
    """

    changed: dict[str, CRMRecord] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    cursor: str | None = None
    is_full_listing: bool = False
    pages: int = 0
    mentions: list[str] = field(default_factory=list)


def drain(
    repository: CRMRepository[CRMRecord], mailbox: str, cursor: str | None
) -> Listing:
    """Read every page of changes after ``cursor``, the way the engine does.

    Args:
        repository: The repository to read.
        mailbox: The owner's mailbox.
        cursor: Where to start (``None`` for a first listing).

    Returns:
        The merged :class:`Listing`.

    Raises:
        AssertionError: When the listing does not end within
            :data:`MAX_PAGES` pages.
    """
    listing = Listing(cursor=cursor)
    while True:
        page = repository.list_changes(mailbox, listing.cursor)
        listing.pages += 1
        listing.is_full_listing = listing.is_full_listing or page.is_full_listing
        for record in page.changed:
            listing.changed[record.id or ""] = record
            listing.mentions.append(record.id or "")
        listing.deleted.update(page.deleted)
        listing.mentions.extend(page.deleted)
        listing.cursor = page.next_cursor
        if not page.has_more:
            return listing
        assert listing.pages < MAX_PAGES, "list_changes never stopped paging"


def _key() -> str:
    return f"contract-{uuid.uuid4()}"


class RepositoryContract(ABC):
    """Contract tests for a :class:`~crm_ews.repository.CRMRepository` adapter.

    Every test gets a fresh repository from :meth:`make_repository` for one
    entity type and works in :attr:`mailbox` (plus :attr:`other_mailbox` for
    isolation checks), so the adapter's store should start empty for those
    mailboxes.
    """

    #: The entity types the adapter supports; tests for others are skipped.
    entities: ClassVar[tuple[EntityType, ...]] = tuple(EntityType)
    #: The owner every test works for.
    mailbox: ClassVar[str] = "owner@example.com"
    #: A second owner, to check that owners do not see each other's records.
    other_mailbox: ClassVar[str] = "someone.else@example.com"

    @abstractmethod
    def make_repository(self, entity: EntityType) -> AnyRepository:
        """Return a repository for ``entity`` with no records for the test owners."""

    def close_repository(self, repository: AnyRepository) -> None:  # noqa: B027 (an optional hook)
        """Release what :meth:`make_repository` opened; does nothing by default."""

    def sample_record(self, entity: EntityType, index: int) -> CRMRecord:
        """Return the ``index``-th plain sample record (no id) of ``entity``."""
        return sample_records(entity, index + 1, seed=index, anchor=_ANCHOR)[index]

    def modify(self, record: CRMRecord, marker: str) -> CRMRecord:
        """Return ``record`` with a visible change that contains ``marker``."""
        name = "notes" if isinstance(record, Contact) else "subject"
        return record.model_copy(update={name: f"changed {marker}"})

    def rich_record(self, entity: EntityType) -> CRMRecord:
        """Return a record of ``entity`` with every field filled in."""
        return _rich_record(entity)

    def selection_cases(self, entity: EntityType) -> Iterable[tuple[CRMRecord, bool]]:
        """Return records with whether ``belongs_to`` should accept them.

        The default expects every sample to belong, which fits the default
        ``belongs_to``; adapters with a selection predicate add records it
        must refuse.
        """
        return [(self.sample_record(entity, 0), True)]

    @pytest.fixture(params=list(EntityType), ids=str)
    def contract_entity(self, request: pytest.FixtureRequest) -> EntityType:
        """The entity type under test; unsupported ones are skipped visibly."""
        entity = cast("EntityType", request.param)
        if entity not in self.entities:
            pytest.skip(f"the adapter does not support {entity}")

        return entity

    @pytest.fixture
    def contract_repository(
        self, contract_entity: EntityType
    ) -> Iterator[CRMRepository[CRMRecord]]:
        """A fresh repository from make_repository, closed afterwards."""
        repository = self.make_repository(contract_entity)
        yield cast("CRMRepository[CRMRecord]", repository)
        self.close_repository(repository)

    def _create(
        self, repository: CRMRepository[CRMRecord], index: int, mailbox: str = ""
    ) -> CRMRecord:
        record = self.sample_record(repository.entity, index)
        return repository.create(
            mailbox or self.mailbox, record, idempotency_key=_key()
        )

    def test_create_assigns_id_and_version(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """create returns the record with a non-empty id and version."""
        record = self.sample_record(contract_repository.entity, 0)

        created = contract_repository.create(
            self.mailbox, record, idempotency_key=_key()
        )

        assert created.id
        assert created.version
        assert created.sync_fields() == record.sync_fields()

    def test_get_returns_created_record(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """get returns what create stored, with the same id and version."""
        created = self._create(contract_repository, 0)

        fetched = contract_repository.get(self.mailbox, created.id or "")

        assert fetched is not None
        assert (fetched.id, fetched.version) == (created.id, created.version)
        assert fetched.sync_fields() == created.sync_fields()

    def test_get_unknown_id_returns_none(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """get of an id nobody created returns None."""
        assert contract_repository.get(self.mailbox, "no-such-record") is None

    def test_owners_do_not_see_each_others_records(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """A record is invisible to get and list_changes of another mailbox."""
        created = self._create(contract_repository, 0)

        assert contract_repository.get(self.other_mailbox, created.id or "") is None
        listing = drain(contract_repository, self.other_mailbox, None)
        assert created.id not in listing.changed

    def test_create_rejects_a_record_that_has_an_id(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """create refuses a record that already carries an id."""
        created = self._create(contract_repository, 0)

        with pytest.raises(ValueError, match="id"):
            contract_repository.create(self.mailbox, created, idempotency_key=_key())

    def test_create_rejects_another_entity_type(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """create raises TypeError for a record of a different entity type."""
        others = [
            entity for entity in EntityType if entity != contract_repository.entity
        ]
        foreign = sample_records(others[0], 1, seed=0, anchor=_ANCHOR)[0]

        with pytest.raises(TypeError):
            contract_repository.create(self.mailbox, foreign, idempotency_key=_key())

    def test_update_stores_fields_and_moves_version(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """update stores the new fields and returns a new version."""
        created = self._create(contract_repository, 0)
        changed = self.modify(created, "once")

        updated = contract_repository.update(
            self.mailbox, changed, expected_version=created.version or ""
        )

        assert updated.id == created.id
        assert updated.version != created.version
        fetched = contract_repository.get(self.mailbox, created.id or "")
        assert fetched is not None
        assert fetched.version == updated.version
        assert fetched.sync_fields() == changed.sync_fields()

    def test_update_with_stale_version_raises_conflict(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """update based on an old version raises and writes nothing."""
        created = self._create(contract_repository, 0)
        first = contract_repository.update(
            self.mailbox,
            self.modify(created, "first"),
            expected_version=created.version or "",
        )

        with pytest.raises(RecordVersionConflictError):
            contract_repository.update(
                self.mailbox,
                self.modify(created, "second"),
                expected_version=created.version or "",
            )

        fetched = contract_repository.get(self.mailbox, created.id or "")
        assert fetched is not None
        assert fetched.sync_fields() == first.sync_fields()

    def test_update_of_deleted_record_raises_not_found(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """update of a deleted record raises RecordNotFoundError."""
        created = self._create(contract_repository, 0)
        contract_repository.delete(self.mailbox, created.id or "")

        with pytest.raises(RecordNotFoundError):
            contract_repository.update(
                self.mailbox,
                self.modify(created, "late"),
                expected_version=created.version or "",
            )

    def test_delete_hides_record(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """After delete, get returns None."""
        created = self._create(contract_repository, 0)

        contract_repository.delete(
            self.mailbox, created.id or "", expected_version=created.version
        )

        assert contract_repository.get(self.mailbox, created.id or "") is None

    def test_delete_with_stale_version_raises_conflict(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """delete with an old expected_version raises and deletes nothing."""
        created = self._create(contract_repository, 0)
        contract_repository.update(
            self.mailbox,
            self.modify(created, "moved"),
            expected_version=created.version or "",
        )

        with pytest.raises(RecordVersionConflictError):
            contract_repository.delete(
                self.mailbox, created.id or "", expected_version=created.version
            )

        assert contract_repository.get(self.mailbox, created.id or "") is not None

    def test_delete_of_missing_record_raises_not_found(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """delete of a record that is gone raises RecordNotFoundError."""
        created = self._create(contract_repository, 0)
        contract_repository.delete(self.mailbox, created.id or "")

        with pytest.raises(RecordNotFoundError):
            contract_repository.delete(self.mailbox, created.id or "")

    def test_create_twice_with_one_key_returns_the_same_record(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """A repeated create with the same key returns the first record only."""
        key = _key()
        first = contract_repository.create(
            self.mailbox,
            self.sample_record(contract_repository.entity, 0),
            idempotency_key=key,
        )

        again = contract_repository.create(
            self.mailbox,
            self.sample_record(contract_repository.entity, 1),
            idempotency_key=key,
        )

        assert (again.id, again.version) == (first.id, first.version)
        assert again.sync_fields() == first.sync_fields()
        assert list(drain(contract_repository, self.mailbox, None).changed) == [
            first.id
        ]

    def test_idempotency_keys_are_per_mailbox(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """The same key in two mailboxes creates two records."""
        key = _key()
        record = self.sample_record(contract_repository.entity, 0)

        mine = contract_repository.create(self.mailbox, record, idempotency_key=key)
        theirs = contract_repository.create(
            self.other_mailbox, record, idempotency_key=key
        )

        assert contract_repository.get(self.mailbox, mine.id or "") is not None
        assert contract_repository.get(self.other_mailbox, theirs.id or "") is not None
        assert list(drain(contract_repository, self.mailbox, None).changed) == [mine.id]
        assert list(drain(contract_repository, self.other_mailbox, None).changed) == [
            theirs.id
        ]

    def test_key_of_a_deleted_record_is_not_reused(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """create with the key of a since-deleted record raises, creating nothing."""
        key = _key()
        record = self.sample_record(contract_repository.entity, 0)
        created = contract_repository.create(self.mailbox, record, idempotency_key=key)
        contract_repository.delete(self.mailbox, created.id or "")

        with pytest.raises(RecordNotFoundError):
            contract_repository.create(self.mailbox, record, idempotency_key=key)

        assert drain(contract_repository, self.mailbox, None).changed == {}

    def test_first_listing_holds_live_records(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """list_changes(None) returns each live record once and no deleted one."""
        records = [self._create(contract_repository, index) for index in range(3)]
        contract_repository.delete(self.mailbox, records[1].id or "")

        listing = drain(contract_repository, self.mailbox, None)

        assert set(listing.changed) == {records[0].id, records[2].id}
        assert sorted(listing.mentions) == sorted(
            listing.changed.keys() | listing.deleted
        )
        assert records[0].id not in listing.deleted

    def test_changes_after_a_cursor_appear_exactly_once(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """A create, an update and a delete after a cursor each show up once."""
        kept, updated, deleted = (
            self._create(contract_repository, index) for index in range(3)
        )
        cursor = drain(contract_repository, self.mailbox, None).cursor
        added = self._create(contract_repository, 3)
        contract_repository.update(
            self.mailbox,
            self.modify(updated, "delta"),
            expected_version=updated.version or "",
        )
        contract_repository.delete(self.mailbox, deleted.id or "")

        delta = drain(contract_repository, self.mailbox, cursor)
        after = drain(contract_repository, self.mailbox, delta.cursor)

        assert len(delta.mentions) == len(set(delta.mentions))
        changed_fields = delta.changed[updated.id or ""].sync_fields()
        assert changed_fields == self.modify(updated, "delta").sync_fields()
        if contract_repository.supports_change_tracking:
            assert set(delta.changed) == {added.id, updated.id}
            assert delta.deleted == {deleted.id}
            assert after.changed == {}
            assert after.deleted == set()
        else:
            assert set(delta.changed) == {kept.id, added.id, updated.id}
            assert delta.deleted == set()
            assert set(after.changed) == {kept.id, added.id, updated.id}

    def test_listing_kind_matches_change_tracking(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """Deltas are not full listings exactly when change tracking is declared."""
        self._create(contract_repository, 0)
        cursor = drain(contract_repository, self.mailbox, None).cursor
        self._create(contract_repository, 1)

        delta = drain(contract_repository, self.mailbox, cursor)

        assert delta.is_full_listing is not contract_repository.supports_change_tracking

    def test_paging_covers_every_record_once(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """A listing of many records, paged or not, names each one once."""
        created = {self._create(contract_repository, index).id for index in range(25)}

        listing = drain(contract_repository, self.mailbox, None)

        assert set(listing.changed) == created
        assert len(listing.mentions) == len(created)

    def test_rich_record_round_trips(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """A record with every field set reads back with equal sync fields."""
        record = self.rich_record(contract_repository.entity)

        created = contract_repository.create(
            self.mailbox, record, idempotency_key=_key()
        )
        fetched = contract_repository.get(self.mailbox, created.id or "")

        assert fetched is not None
        assert fetched.sync_fields() == record.sync_fields()

    def test_belongs_to_follows_selection_cases(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """belongs_to answers as selection_cases expects; listings keep every record."""
        cases = list(self.selection_cases(contract_repository.entity))
        created = [
            (
                contract_repository.create(
                    self.mailbox, record, idempotency_key=_key()
                ),
                want,
            )
            for record, want in cases
        ]

        answers = [
            contract_repository.belongs_to(self.mailbox, record)
            for record, _ in created
        ]
        listing = drain(contract_repository, self.mailbox, None)

        assert answers == [want for _, want in created]
        assert {record.id for record, _ in created} <= set(listing.changed)

    def test_async_wrapper_behaves_like_the_repository(
        self, contract_repository: CRMRepository[CRMRecord]
    ) -> None:
        """as_async gives the same results and errors as the plain calls."""
        wrapped = as_async(contract_repository)
        sample = self.sample_record(contract_repository.entity, 0)

        async def scenario() -> tuple[
            CRMRecord,
            CRMRecord | None,
            CRMRecord,
            ChangeSet[CRMRecord],
            CRMRecord | None,
        ]:
            created = await wrapped.create(self.mailbox, sample, idempotency_key=_key())
            fetched = await wrapped.get(self.mailbox, created.id or "")
            updated = await wrapped.update(
                self.mailbox,
                self.modify(created, "async"),
                expected_version=created.version or "",
            )
            with pytest.raises(RecordVersionConflictError):
                await wrapped.update(
                    self.mailbox, created, expected_version=created.version or ""
                )
            page = await wrapped.list_changes(self.mailbox, None)
            await wrapped.delete(
                self.mailbox, created.id or "", expected_version=updated.version
            )
            gone = await wrapped.get(self.mailbox, created.id or "")
            return created, fetched, updated, page, gone

        created, fetched, updated, page, gone = asyncio.run(scenario())

        assert wrapped.entity is contract_repository.entity
        assert (
            wrapped.supports_change_tracking
            is contract_repository.supports_change_tracking
        )
        assert fetched is not None
        assert (fetched.id, fetched.version) == (created.id, created.version)
        assert updated.sync_fields() == self.modify(created, "async").sync_fields()
        assert updated.id in {record.id for record in page.changed}
        assert gone is None
        assert contract_repository.get(self.mailbox, created.id or "") is None
        assert wrapped.belongs_to(self.mailbox, created) is (
            contract_repository.belongs_to(self.mailbox, created)
        )


def _rich_record(entity: EntityType) -> CRMRecord:
    """Build a record of ``entity`` with every field set to something."""
    zone = ZoneInfo("Europe/Berlin")
    start = datetime(2030, 3, 29, 9, 30, tzinfo=zone)
    extra = {"crm_owner": "42", "ünïcode": "✓ line one\nline two"}
    if entity is EntityType.APPOINTMENT:
        return Appointment(
            subject="Budget ✓ review",
            body="Line one\nLine two",
            location="Room 4",
            start=start,
            end=start + timedelta(hours=1),
            time_zone="Europe/Berlin",
            recurrence=Recurrence(
                frequency=Frequency.MONTHLY,
                interval=2,
                days_of_week=(Weekday.FRIDAY,),
                week_of_month=WeekOfMonth.LAST,
                start_date=start.date(),
                end_date=date(2031, 3, 28),
            ),
            categories=("CRM", "Finance"),
            reminder_minutes=15,
            is_private=True,
            show_as=ShowAs.TENTATIVE,
            organizer_email="owner@example.com",
            attendee_emails=("a@example.com", "b@example.com"),
            extra=extra,
        )
    if entity is EntityType.CONTACT:
        return Contact(
            given_name="Zoë",
            middle_name="Q.",
            surname="Ng",
            display_name="Zoë Ng",
            company="Fabrikam",
            job_title="CFO",
            department="Finance",
            email_addresses=("zoe@example.com", "z.ng@example.org", "zn@example.net"),
            phones={
                PhoneKind.BUSINESS: "+1 555 0100",
                PhoneKind.MOBILE: "+1 555 0101",
                PhoneKind.BUSINESS_FAX: "+1 555 0102",
            },
            addresses={
                kind: PostalAddress(
                    street=f"{index} Main St",
                    city="Springfield",
                    state="IL",
                    postal_code="62701",
                    country="US",
                )
                for index, kind in enumerate(AddressKind, start=1)
            },
            notes="Met at the fair.\nPrefers e-mail.",
            categories=("VIP",),
            birthday=date(1980, 2, 29),
            extra=extra,
        )

    return Task(
        subject="Send offer",
        body="Include the discount.",
        start_date=date(2030, 3, 1),
        due_date=date(2030, 3, 8),
        complete_date=date(2030, 3, 7),
        status=TaskStatus.COMPLETED,
        percent_complete=100,
        importance=Importance.HIGH,
        reminder_at=start,
        categories=("Sales", "Q1"),
        extra=extra,
    )
