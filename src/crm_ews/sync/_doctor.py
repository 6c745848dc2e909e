"""Preflight checks of impersonation rights, and the script that narrows them.

:func:`doctor` asks the mailbox backend to reach every enrolled mailbox and
reports a reason code for each one it cannot reach.  Given a sample of
mailboxes that are NOT enrolled, it also reports which of those the service
account can reach: a management scope wider than the integration users.

:func:`scope_script` writes the Exchange Management Shell commands that
restrict the ApplicationImpersonation role to the enrolled mailboxes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from crm_ews.errors import (
    AccessDeniedError,
    AuthenticationError,
    CRMEWSError,
    MailboxNotFoundError,
    ThrottledError,
    TransportError,
)
from crm_ews.sync._backend import MailboxBackend

__all__ = ["AccessStatus", "DoctorReport", "MailboxCheck", "doctor", "scope_script"]


class AccessStatus(StrEnum):
    """Why a mailbox can or cannot be reached."""

    OK = "ok"
    AUTH_FAILED = "auth_failed"
    MAILBOX_NOT_FOUND = "mailbox_not_found"
    IMPERSONATION_DENIED = "impersonation_denied"
    THROTTLED = "throttled"
    UNREACHABLE = "unreachable"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class MailboxCheck:
    """The outcome of reaching one mailbox."""

    mailbox: str
    status: AccessStatus
    response_code: str | None = None


@dataclass(slots=True)
class DoctorReport:
    """Everything :func:`doctor` found.

    Attributes:
        enrolled: One check per enrolled mailbox.
        unenrolled: One check per sampled mailbox that is not enrolled.
        warnings: Human-readable findings, e.g. a scope wider than needed.
    """

    enrolled: list[MailboxCheck] = field(default_factory=list)
    unenrolled: list[MailboxCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def scope_too_wide(self) -> bool:
        """Whether the account reaches a mailbox it has no business in."""
        return any(check.status is AccessStatus.OK for check in self.unenrolled)

    @property
    def ok(self) -> bool:
        """Every enrolled mailbox is reachable and the scope is tight."""
        return (
            all(check.status is AccessStatus.OK for check in self.enrolled)
            and not self.scope_too_wide
            and not self.warnings
        )

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data."""

        def rows(checks: list[MailboxCheck]) -> list[dict[str, str | None]]:
            return [
                {
                    "mailbox": check.mailbox,
                    "status": check.status.value,
                    "response_code": check.response_code,
                }
                for check in checks
            ]

        return {
            "ok": self.ok,
            "scope_too_wide": self.scope_too_wide,
            "enrolled": rows(self.enrolled),
            "unenrolled": rows(self.unenrolled),
            "warnings": list(self.warnings),
        }


def _classify(error: CRMEWSError) -> AccessStatus:
    if isinstance(error, AuthenticationError):
        return AccessStatus.AUTH_FAILED
    if isinstance(error, MailboxNotFoundError):
        return AccessStatus.MAILBOX_NOT_FOUND
    if isinstance(error, AccessDeniedError):
        return AccessStatus.IMPERSONATION_DENIED
    if isinstance(error, ThrottledError):
        return AccessStatus.THROTTLED
    if isinstance(error, TransportError):
        return AccessStatus.UNREACHABLE
    return AccessStatus.ERROR


async def _check(backend: MailboxBackend, mailbox: str) -> MailboxCheck:
    try:
        await backend.check_access(mailbox)
    except CRMEWSError as exc:
        code = getattr(exc, "response_code", None) or type(exc).__name__
        return MailboxCheck(mailbox, _classify(exc), code)
    return MailboxCheck(mailbox, AccessStatus.OK)


async def doctor(
    backend: MailboxBackend,
    enrolled: Sequence[str],
    *,
    unenrolled_sample: Iterable[str] = (),
    service_account: str | None = None,
    concurrency: int = 8,
) -> DoctorReport:
    """Check that the service account reaches exactly what it should.

    Args:
        backend: Mailbox access as the service account.
        enrolled: The integration mailboxes.
        unenrolled_sample: Mailboxes that are not enrolled (e.g. an executive
            or a shared mailbox); reaching any of them means the
            impersonation scope is wider than needed.
        service_account: The service account's own address, to warn when it
            is itself enrolled (it should be a dedicated account).
        concurrency: Checks in flight at once.

    Returns:
        The findings; ``report.ok`` is the overall verdict.
    """
    enrolled_set = {mailbox.casefold() for mailbox in enrolled}
    sample = [
        m for m in dict.fromkeys(unenrolled_sample) if m.casefold() not in enrolled_set
    ]
    limit = asyncio.Semaphore(max(concurrency, 1))

    async def guarded(mailbox: str) -> MailboxCheck:
        async with limit:
            return await _check(backend, mailbox)

    report = DoctorReport(
        enrolled=list(await asyncio.gather(*(guarded(m) for m in enrolled))),
        unenrolled=list(await asyncio.gather(*(guarded(m) for m in sample))),
    )

    if service_account is not None and service_account.casefold() in enrolled_set:
        report.warnings.append(
            f"the service account {service_account} is itself enrolled; "
            "use a dedicated account that is not an integration user"
        )
    wide = [
        check.mailbox for check in report.unenrolled if check.status is AccessStatus.OK
    ]
    if wide:
        report.warnings.append(
            "the service account can impersonate mailboxes that are not enrolled "
            f"({', '.join(wide)}); narrow its management scope (crm-ews scope-script)"
        )
    return report


def _quote(value: str) -> str:
    """A PowerShell single-quoted literal (quotes doubled, no expansion)."""
    return "'" + value.replace("'", "''") + "'"


def scope_script(
    enrolled: Sequence[str],
    *,
    service_account: str,
    attribute: str = "CustomAttribute10",
    marker: str = "CRMSync",
    scope_name: str = "CRM Integration Users",
    assignment_name: str = "CRM ApplicationImpersonation",
) -> str:
    """Exchange Management Shell commands that narrow ApplicationImpersonation.

    The enrolled mailboxes are tagged with ``marker`` in a custom attribute;
    a management scope selects exactly the tagged mailboxes; the role
    assignment gives the service account ApplicationImpersonation over that
    scope only (``-CustomRecipientWriteScope``).

    Args:
        enrolled: The integration mailboxes.
        service_account: The account that impersonates them.
        attribute: The custom attribute used as the tag (CustomAttribute1..15).
        marker: The tag value.
        scope_name: Name of the management scope.
        assignment_name: Name of the role assignment.

    Returns:
        A PowerShell script; review it before running it.

    Raises:
        ValueError: No mailboxes, or an attribute that is not a custom
            attribute.
    """
    if not enrolled:
        raise ValueError("no enrolled mailboxes")
    allowed = {f"CustomAttribute{n}" for n in range(1, 16)}
    if attribute not in allowed:
        raise ValueError("attribute must be one of CustomAttribute1..CustomAttribute15")
    if not marker or "'" in marker or '"' in marker:
        raise ValueError("marker must be a plain non-empty word")

    lines = [
        "# Generated by crm-ews scope-script. Review before running in the",
        "# Exchange Management Shell as an Organization Management member.",
        "",
        f"# 1. Tag the {len(enrolled)} integration mailboxes.",
    ]
    lines += [
        f"Set-Mailbox -Identity {_quote(mailbox)} -{attribute} {_quote(marker)}"
        for mailbox in enrolled
    ]
    lines += [
        "",
        "# 2. A management scope holding exactly the tagged mailboxes.",
        f"New-ManagementScope -Name {_quote(scope_name)} "
        f"-RecipientRestrictionFilter \"{attribute} -eq '{marker}'\"",
        "",
        "# 3. ApplicationImpersonation for the service account, on that scope only.",
        f"New-ManagementRoleAssignment -Name {_quote(assignment_name)} "
        f"-Role ApplicationImpersonation -User {_quote(service_account)} "
        f"-CustomRecipientWriteScope {_quote(scope_name)}",
        "",
        "# 4. List the account's other assignments of the role. Review them and",
        "#    remove the wider ones with Remove-ManagementRoleAssignment.",
        "Get-ManagementRoleAssignment -Role ApplicationImpersonation "
        f"-RoleAssignee {_quote(service_account)} | "
        f"Where-Object {{ $_.Name -ne {_quote(assignment_name)} }} | "
        "Format-Table Name, CustomRecipientWriteScope",
        "",
    ]
    return "\n".join(lines)
