"""Authentication, impersonation, server versions and the call log."""

from __future__ import annotations

import pytest
from lxml import etree

from crm_ews._soap import ServerVersion, decode_envelope, parse_xml
from crm_ews.errors import AccessDeniedError, InvalidRequestError, MailboxNotFoundError
from crm_ews.testing import ExchangeSimulator, ServiceAccount
from tests.testing.simulator._ews import ALICE, BOB, SOAPClient, request

GET_CALENDAR = (
    "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds>'
)


def _get_calendar() -> etree._Element:
    return request("GetFolder", GET_CALENDAR)


def _envelope(header: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
        f"<s:Header>{header}</s:Header><s:Body><m:GetFolder>{GET_CALENDAR}"
        "</m:GetFolder></s:Body></s:Envelope>"
    ).encode()


def _fault_code(body: bytes) -> str:
    root = parse_xml(body)
    return (
        root.findtext(
            ".//{http://schemas.microsoft.com/exchange/services/2006/errors}ResponseCode"
        )
        or ""
    )


def test_missing_credentials_get_401_with_basic_challenge(
    ews_simulator: ExchangeSimulator,
) -> None:
    """A request without credentials is refused with a Basic challenge."""
    with SOAPClient(ews_simulator) as client:
        client.http.auth = None
        response = client.send(_get_calendar())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert ews_simulator.calls[-1].response_code == "HTTP401"


def test_wrong_password_gets_401(ews_simulator: ExchangeSimulator) -> None:
    """A wrong password is refused before EWS runs."""
    with SOAPClient(ews_simulator, password="not-it") as client:
        response = client.send(_get_calendar())
    assert response.status_code == 401
    assert b"simulator-password" not in response.content


def test_impersonation_outside_scope_is_denied() -> None:
    """Impersonating a mailbox outside the management scope faults."""
    sim = ExchangeSimulator(
        service_accounts=[
            ServiceAccount("svc@example.com", "pw", scope=frozenset({ALICE}))
        ],
        mailboxes=[ALICE, BOB],
    )
    with SOAPClient(sim, account="svc@example.com", password="pw") as client:
        assert client.call(_get_calendar(), mailbox=ALICE) is not None
        response = client.send(_get_calendar(), mailbox=BOB)
    assert response.status_code == 500
    with pytest.raises(AccessDeniedError) as caught:
        decode_envelope(response.content, operation="GetFolder", mailbox=BOB)
    assert caught.value.response_code == "ErrorImpersonateUserDenied"
    assert b"a:ErrorImpersonateUserDenied" in response.content


@pytest.mark.ews_simulator(can_impersonate=False)
def test_account_without_role_cannot_impersonate(ews: SOAPClient) -> None:
    """Without ApplicationImpersonation every impersonated call is denied."""
    response = ews.send(_get_calendar(), mailbox=ALICE)
    assert _fault_code(response.content) == "ErrorImpersonateUserDenied"


def test_unknown_mailbox_is_nonexistent(ews: SOAPClient) -> None:
    """Impersonating an address with no mailbox gives ErrorNonExistentMailbox."""
    with pytest.raises(MailboxNotFoundError) as caught:
        ews.call(_get_calendar(), mailbox="nobody@example.com")
    assert caught.value.response_code == "ErrorNonExistentMailbox"


def test_no_impersonation_acts_on_own_mailbox(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """Without an impersonation header the service account's mailbox is used."""
    ews.call(_get_calendar(), mailbox=None)
    assert ews_simulator.calls[-1].mailbox == "svc-crm@example.com"


@pytest.mark.parametrize(
    "header",
    [
        "<t:ExchangeImpersonation><t:ConnectingSID/></t:ExchangeImpersonation>",
        "<t:ExchangeImpersonation><t:ConnectingSID>"
        "<t:PrimarySmtpAddress>alice@example.com</t:PrimarySmtpAddress>"
        "<t:SmtpAddress>bob@example.com</t:SmtpAddress>"
        "</t:ConnectingSID></t:ExchangeImpersonation>",
        "<t:ExchangeImpersonation><t:ConnectingSID>"
        "<t:PrimarySmtpAddress>  </t:PrimarySmtpAddress>"
        "</t:ConnectingSID></t:ExchangeImpersonation>",
    ],
    ids=["missing-child", "doubled-child", "blank-address"],
)
def test_malformed_connecting_sid_is_rejected(ews: SOAPClient, header: str) -> None:
    """A ConnectingSID without exactly one named user is invalid header data."""
    response = ews.post(_envelope(header))
    assert response.status_code == 500
    assert (
        _fault_code(response.content) == "ErrorInvalidExchangeImpersonationHeaderData"
    )


def test_smtp_and_principal_name_impersonate_too(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """SmtpAddress and PrincipalName name the mailbox like PrimarySmtpAddress."""
    for kind in ("SmtpAddress", "PrincipalName"):
        header = (
            f"<t:ExchangeImpersonation><t:ConnectingSID><t:{kind}>Bob@Example.com"
            f"</t:{kind}></t:ConnectingSID></t:ExchangeImpersonation>"
        )
        assert ews.post(_envelope(header)).status_code == 200
        assert ews_simulator.calls[-1].mailbox == BOB


@pytest.mark.parametrize("version", ["V2018_01_08", "Exchange2019"])
def test_unsupported_server_version_is_rejected(ews: SOAPClient, version: str) -> None:
    """A RequestServerVersion an on-premises server lacks is refused."""
    header = f'<t:RequestServerVersion Version="{version}"/>'
    response = ews.post(_envelope(header))
    assert _fault_code(response.content) == "ErrorInvalidServerVersion"
    with pytest.raises(InvalidRequestError):
        decode_envelope(response.content, operation="GetFolder", mailbox=None)


def test_response_carries_server_version_info(ews: SOAPClient) -> None:
    """Every success response has Exchange's ServerVersionInfo header."""
    response = ews.send(_get_calendar(), version=ServerVersion.EXCHANGE2013)
    decoded = decode_envelope(response.content, operation="GetFolder", mailbox=ALICE)
    info = decoded.server_version
    assert info is not None
    assert (info.major, info.minor, info.build, info.version) == (
        15,
        1,
        2507,
        "V2017_07_11",
    )
    assert response.content.startswith(b"<?xml")
    assert response.headers["Content-Type"].startswith("text/xml")


def test_call_log_records_anchor_mailbox(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """The call log keeps operation, mailbox, anchor header and status."""
    ews.send(_get_calendar(), mailbox=BOB)
    record = ews_simulator.calls[-1]
    assert (record.operation, record.mailbox, record.anchor_mailbox) == (
        "GetFolder",
        BOB,
        BOB,
    )
    assert (record.status, record.response_code, record.request_version) == (
        200,
        "NoError",
        "Exchange2016",
    )
    assert ews_simulator.counters["operation.GetFolder"] == 1


def test_reset_calls_empties_log_and_counters(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """reset_calls forgets every recorded call."""
    ews.send(_get_calendar())
    ews_simulator.reset_calls()
    assert ews_simulator.calls == []
    assert ews_simulator.counters == {}


def test_impersonated_folder_of_other_mailbox_is_refused(ews: SOAPClient) -> None:
    """A DistinguishedFolderId naming another mailbox is access-denied."""
    body = request(
        "GetFolder",
        "<m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
        '<m:FolderIds><t:DistinguishedFolderId Id="calendar"><t:Mailbox>'
        f"<t:EmailAddress>{BOB}</t:EmailAddress></t:Mailbox>"
        "</t:DistinguishedFolderId></m:FolderIds>",
    )
    response = ews.call(body, mailbox=ALICE)
    assert response.findtext(".//{*}ResponseCode") == "ErrorAccessDenied"


def test_service_account_repr_hides_password() -> None:
    """A ServiceAccount never shows its password in repr."""
    account = ServiceAccount("svc@example.com", "s3cret-value")
    assert "s3cret-value" not in repr(account)


def test_sid_connecting_sid_is_resolved(
    ews: SOAPClient, ews_simulator: ExchangeSimulator
) -> None:
    """A SID in ConnectingSID names the mailbox with that SID."""
    sid = ews_simulator.mailbox_sid(BOB)
    header = (
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:SID>{sid}</t:SID>"
        "</t:ConnectingSID></t:ExchangeImpersonation>"
    )
    assert ews.post(_envelope(header)).status_code == 200
    assert ews_simulator.calls[-1].mailbox == BOB
