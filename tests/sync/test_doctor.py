"""Preflight checks and the management-scope script."""

from __future__ import annotations

import asyncio

import pytest

from crm_ews.errors import AccessDeniedError, AuthenticationError
from crm_ews.sync import AccessStatus, InMemoryMailboxBackend, doctor, scope_script

ALICE = "alice@example.com"
BOB = "bob@example.com"
CEO = "ceo@example.com"


def _backend(denied: set[str]) -> InMemoryMailboxBackend:
    def fault(operation: str, mailbox: str) -> None:
        if mailbox in denied:
            raise AccessDeniedError(
                "not allowed", response_code="ErrorImpersonateUserDenied"
            )

    return InMemoryMailboxBackend([ALICE, BOB, CEO], fault=fault)


def test_doctor_reports_reason_codes_per_mailbox() -> None:
    """Each enrolled mailbox gets ok, denied or not-found with the raw code."""
    backend = _backend(denied={BOB})

    report = asyncio.run(doctor(backend, [ALICE, BOB, "ghost@example.com"]))

    statuses = {check.mailbox: check.status for check in report.enrolled}
    assert statuses == {
        ALICE: AccessStatus.OK,
        BOB: AccessStatus.IMPERSONATION_DENIED,
        "ghost@example.com": AccessStatus.MAILBOX_NOT_FOUND,
    }
    assert report.enrolled[1].response_code == "ErrorImpersonateUserDenied"
    assert not report.ok


def test_doctor_detects_a_scope_wider_than_the_enrolled_set() -> None:
    """Reaching a mailbox that is not enrolled is reported as too wide a scope."""
    report = asyncio.run(
        doctor(_backend(denied=set()), [ALICE], unenrolled_sample=[CEO])
    )

    assert report.scope_too_wide
    assert any(CEO in warning for warning in report.warnings)
    assert not report.ok


def test_doctor_is_ok_when_the_scope_is_tight() -> None:
    """Enrolled reachable, unenrolled refused: everything is as it should be."""
    report = asyncio.run(
        doctor(_backend(denied={CEO}), [ALICE, BOB], unenrolled_sample=[CEO, ALICE])
    )

    assert report.ok
    assert [check.mailbox for check in report.unenrolled] == [CEO]
    assert report.as_dict()["scope_too_wide"] is False


def test_doctor_warns_when_the_service_account_is_enrolled() -> None:
    """An integration user acting as the service account earns a warning."""
    report = asyncio.run(doctor(_backend(denied=set()), [ALICE], service_account=ALICE))

    assert report.warnings
    assert "dedicated" in report.warnings[0]


def test_doctor_classifies_authentication_failures() -> None:
    """A refused service account login is reported as auth_failed."""

    def fault(operation: str, mailbox: str) -> None:
        raise AuthenticationError("401", status_code=401)

    backend = InMemoryMailboxBackend([ALICE], fault=fault)
    report = asyncio.run(doctor(backend, [ALICE]))

    assert report.enrolled[0].status is AccessStatus.AUTH_FAILED


def test_scope_script_names_every_mailbox_and_the_custom_scope() -> None:
    """The script tags each mailbox and scopes the role assignment to them."""
    script = scope_script(
        [ALICE, "o'brien@example.com"], service_account="svc@example.com"
    )

    assert f"Set-Mailbox -Identity '{ALICE}' -CustomAttribute10 'CRMSync'" in script
    assert "'o''brien@example.com'" in script  # quotes are doubled, never expanded
    assert "-RecipientRestrictionFilter \"CustomAttribute10 -eq 'CRMSync'\"" in script
    assert "-Role ApplicationImpersonation -User 'svc@example.com'" in script
    assert "-CustomRecipientWriteScope 'CRM Integration Users'" in script


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"enrolled": []}, "no enrolled"),
        ({"enrolled": [ALICE], "attribute": "Department"}, "CustomAttribute"),
        ({"enrolled": [ALICE], "marker": "x'y"}, "plain"),
    ],
)
def test_scope_script_refuses_bad_input(
    kwargs: dict[str, object], message: str
) -> None:
    """Bad arguments raise ValueError before any text is produced."""
    with pytest.raises(ValueError, match=message):
        scope_script(service_account="svc@example.com", **kwargs)  # type: ignore[arg-type]
