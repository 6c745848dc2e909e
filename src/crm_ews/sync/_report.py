"""Run reports: what one sync did, per mailbox and entity, as data and JSON."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_ews.repository import EntityType

__all__ = ["EntityReport", "MailboxReport", "RunReport"]


@dataclass(slots=True)
class EntityReport:
    """Counts for one entity of one mailbox in one run.

    ``created``/``updated``/``deleted`` are split by the side written:
    ``crm`` or ``exchange``.  ``skipped`` and ``errors`` are keyed by reason
    or response code.
    """

    entity: EntityType
    created: Counter[str] = field(default_factory=Counter)
    updated: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    linked: int = 0
    conflicts: int = 0
    parked: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    deletions_refused: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "entity": self.entity.value,
            "created": dict(sorted(self.created.items())),
            "updated": dict(sorted(self.updated.items())),
            "deleted": dict(sorted(self.deleted.items())),
            "linked": self.linked,
            "conflicts": self.conflicts,
            "parked": self.parked,
            "skipped": dict(sorted(self.skipped.items())),
            "errors": dict(sorted(self.errors.items())),
            "deletions_refused": self.deletions_refused,
        }


@dataclass(slots=True)
class MailboxReport:
    """What one ``sync_mailbox`` call did.

    ``error`` holds the code of a failure that stopped the whole mailbox
    (impersonation denied, mailbox missing, throttled), else ``None``.
    """

    mailbox: str
    run_id: str
    started_at: datetime
    finished_at: datetime | None = None
    entities: dict[EntityType, EntityReport] = field(default_factory=dict)
    error: str | None = None
    error_message: str | None = None
    dry_run: bool = False
    back_off: float | None = None
    plan: list[tuple[EntityType, str, str]] = field(default_factory=list)

    def entity(self, entity: EntityType) -> EntityReport:
        """The report of one entity, created on first use."""
        report = self.entities.get(entity)
        if report is None:
            report = self.entities[entity] = EntityReport(entity)
        return report

    @property
    def ok(self) -> bool:
        """Whether the mailbox finished without a mailbox-level failure."""
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "mailbox": self.mailbox,
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "dry_run": self.dry_run,
            "error": self.error,
            "error_message": self.error_message,
            "back_off": self.back_off,
            "plan": [
                {"entity": entity.value, "action": action, "reason": reason}
                for entity, action, reason in self.plan
            ],
            "entities": [self.entities[key].as_dict() for key in sorted(self.entities)],
        }


@dataclass(slots=True)
class RunReport:
    """The reports of every mailbox a runner synced."""

    mailboxes: list[MailboxReport] = field(default_factory=list)

    @property
    def failed(self) -> list[MailboxReport]:
        """Mailboxes that stopped with a mailbox-level failure."""
        return [report for report in self.mailboxes if not report.ok]

    def totals(self) -> dict[str, int]:
        """Sums over every mailbox and entity, for summaries."""
        totals: Counter[str] = Counter()
        for mailbox in self.mailboxes:
            for report in mailbox.entities.values():
                totals["created"] += sum(report.created.values())
                totals["updated"] += sum(report.updated.values())
                totals["deleted"] += sum(report.deleted.values())
                totals["conflicts"] += report.conflicts
                totals["parked"] += report.parked
                totals["skipped"] += sum(report.skipped.values())
                totals["errors"] += sum(report.errors.values())
        totals["mailboxes"] = len(self.mailboxes)
        totals["failed_mailboxes"] = len(self.failed)
        return dict(totals)

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""
        return {
            "totals": self.totals(),
            "mailboxes": [report.as_dict() for report in self.mailboxes],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as a JSON document."""
        return json.dumps(self.as_dict(), indent=indent, sort_keys=False)
