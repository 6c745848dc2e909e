"""Sync many mailboxes concurrently, isolating each one's failures.

The runner is a thin scheduler over :meth:`SyncEngine.sync_mailbox`: a global
concurrency limit bounds how many mailboxes sync at once, a mailbox the
server throttled is tried again after the back-off it asked for (other
mailboxes carry on meanwhile), and a failing mailbox never stops the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime

from crm_ews.errors import MailboxNotEnrolledError
from crm_ews.sync._engine import SyncEngine
from crm_ews.sync._report import MailboxReport, RunReport

__all__ = ["Progress", "SyncRunner"]

logger = logging.getLogger(__name__)

#: Called after each mailbox finishes: (done, total, that mailbox's report).
Progress = Callable[[int, int, MailboxReport], None]

#: Mailbox-level codes worth another attempt within the same run.
_RETRYABLE = frozenset(
    {
        "ErrorServerBusy",
        "ErrorExceededConnectionCount",
        "TransportError",
        "ConnectTimeoutError",
    }
)


class SyncRunner:
    """Run :meth:`SyncEngine.sync_mailbox` over many mailboxes at once.

    Args:
        engine: The engine to run.
        concurrency: Mailboxes synced at the same time.  Keep it at or below
            the server's concurrency budget for the service account
            (Exchange's default is 27 connections).
        attempts: Tries per mailbox for throttling and network trouble.
        default_back_off: Seconds to wait before another try when the server
            named no back-off.
        max_back_off: The longest wait the runner accepts within one run; a
            mailbox asked to wait longer is reported and left for the next.
        sleep: Injectable ``asyncio.sleep`` for tests.
    """

    def __init__(
        self,
        engine: SyncEngine,
        *,
        concurrency: int = 16,
        attempts: int = 3,
        default_back_off: float = 5.0,
        max_back_off: float = 120.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._engine = engine
        self._concurrency = concurrency
        self._attempts = attempts
        self._default_back_off = default_back_off
        self._max_back_off = max_back_off
        self._sleep = sleep

    async def run(
        self,
        mailboxes: Iterable[str],
        *,
        dry_run: bool = False,
        force_deletions: bool = False,
        progress: Progress | None = None,
    ) -> RunReport:
        """Sync every mailbox; return one report per mailbox, in input order.

        Args:
            mailboxes: Enrolled mailboxes (duplicates are synced once).
            dry_run: Plan only, as :meth:`SyncEngine.sync_mailbox`.
            force_deletions: Apply deletions the guard refuses.
            progress: Called after each mailbox finishes.
        """
        ordered = list(dict.fromkeys(mailboxes))
        limit = asyncio.Semaphore(self._concurrency)
        done = 0
        results: dict[str, MailboxReport] = {}

        async def one(mailbox: str) -> None:
            nonlocal done
            report = await self._sync_with_retries(
                mailbox, limit, dry_run, force_deletions
            )
            results[mailbox] = report
            done += 1
            if progress is not None:
                progress(done, len(ordered), report)

        async with asyncio.TaskGroup() as group:
            for mailbox in ordered:
                group.create_task(one(mailbox))

        return RunReport(mailboxes=[results[mailbox] for mailbox in ordered])

    async def _guarded(
        self, mailbox: str, dry_run: bool, force_deletions: bool
    ) -> MailboxReport:
        """One mailbox; an unexpected exception fails it alone, never the run."""
        started = datetime.now(UTC)
        try:
            return await self._engine.sync_mailbox(
                mailbox, dry_run=dry_run, force_deletions=force_deletions
            )
        except MailboxNotEnrolledError as exc:
            error: Exception = exc
        except Exception as exc:
            # A defect, not a server answer: log it with its traceback (the
            # runner swallows it so the other mailboxes finish).
            logger.exception(
                "mailbox sync failed unexpectedly", extra={"mailbox": mailbox}
            )
            error = exc
        return MailboxReport(
            mailbox=mailbox,
            run_id="",
            started_at=started,
            finished_at=datetime.now(UTC),
            dry_run=dry_run,
            error=type(error).__name__,
            error_message=str(error)[:200],
        )

    async def _sync_with_retries(
        self,
        mailbox: str,
        limit: asyncio.Semaphore,
        dry_run: bool,
        force_deletions: bool,
    ) -> MailboxReport:
        attempt = 1
        while True:
            async with limit:
                report = await self._guarded(mailbox, dry_run, force_deletions)
            if report.error not in _RETRYABLE or attempt >= self._attempts:
                return report

            wait = (
                report.back_off
                if report.back_off is not None
                else self._default_back_off
            )
            if wait > self._max_back_off:
                return report
            logger.warning(
                "mailbox back-off before another attempt",
                extra={
                    "mailbox": mailbox,
                    "attempt": attempt,
                    "response_code": report.error,
                },
            )
            # Sleeping outside the semaphore lets other mailboxes use the slot.
            await self._sleep(wait)
            attempt += 1
