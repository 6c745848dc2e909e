"""Secret, BasicAuth, NTLMAuth and OAuth2ClientCredentials over the transport."""

from __future__ import annotations

import asyncio
import base64
import sys
import threading
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pydantic
import pytest
from pydantic import SecretStr

from crm_ews._retry import RetryPolicy
from crm_ews.auth import (
    DEFAULT_OAUTH_SCOPE,
    BasicAuth,
    NTLMAuth,
    OAuth2ClientCredentials,
    Secret,
)
from crm_ews.errors import AuthenticationError
from tests.transport._support import (
    ALICE,
    FakeClock,
    body_element,
    make_async_transport,
    make_transport,
    ok_envelope,
    xml_response,
)

PASSWORD = "Pa55-w0rd-that-must-not-leak"
CLIENT_SECRET = "client-secret-that-must-not-leak"
TOKEN_URL = "https://login.example.com/tenant/oauth2/v2.0/token"
NO_RETRY = RetryPolicy(attempts=1)


def send_get_item(transport: object) -> None:
    """One idempotent GetItem for alice."""
    transport.send(  # type: ignore[attr-defined]  # Transport under test
        operation="GetItem",
        body=body_element("GetItem"),
        impersonation=ALICE,
        is_idempotent=True,
    )


# Secret ---------------------------------------------------------------------


def test_secret_masks_itself() -> None:
    """repr and str show a mask; get_secret_value gives the value."""
    secret = Secret(PASSWORD)

    assert PASSWORD not in repr(secret)
    assert PASSWORD not in str(secret)
    assert PASSWORD not in f"{secret!r} {secret}"
    assert secret.get_secret_value() == PASSWORD


def test_secret_equality_and_hash() -> None:
    """Equal values compare equal and hash alike; other types do not compare."""
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert hash(Secret("a")) == hash(Secret("a"))
    assert Secret("a") != "a"


def test_secret_refuses_non_strings_without_echo() -> None:
    """A bytes value raises TypeError naming only the type."""
    with pytest.raises(TypeError) as info:
        Secret(PASSWORD.encode())  # type: ignore[arg-type]  # misuse on purpose

    assert PASSWORD not in str(info.value)
    assert "bytes" in str(info.value)


class Settings(pydantic.BaseModel):
    """A configuration model holding a Secret field."""

    model_config = pydantic.ConfigDict(frozen=True)

    username: str
    password: Secret
    port: int


def test_secret_as_pydantic_field_is_masked() -> None:
    """A pydantic model validates str into Secret and dumps the mask."""
    settings = Settings(username="svc", password=PASSWORD, port=443)

    assert isinstance(settings.password, Secret)
    assert settings.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings.model_dump())
    assert PASSWORD not in settings.model_dump_json()


def test_pydantic_validation_error_does_not_echo_the_secret() -> None:
    """A ValidationError about another field does not show the password."""
    with pytest.raises(pydantic.ValidationError) as info:
        Settings(username="svc", password=PASSWORD, port="not-a-port")

    assert PASSWORD not in str(info.value)
    assert PASSWORD not in repr(info.value.errors())


# BasicAuth ------------------------------------------------------------------


def test_basic_auth_sets_the_header() -> None:
    """Each request carries Basic base64(user:password)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return xml_response(200, ok_envelope("GetItem"))

    auth = BasicAuth("svc@example.com", PASSWORD)
    with make_transport(handler, FakeClock(), auth=auth) as transport:
        send_get_item(transport)

    expected = base64.b64encode(f"svc@example.com:{PASSWORD}".encode()).decode()
    assert seen == [f"Basic {expected}"]


@pytest.mark.parametrize("password", [PASSWORD, Secret(PASSWORD), SecretStr(PASSWORD)])
def test_basic_auth_accepts_secret_types_and_masks_repr(password: object) -> None:
    """str, Secret and pydantic SecretStr all work; repr hides the value."""
    auth = BasicAuth("svc", password)  # type: ignore[arg-type]  # each accepted type

    assert auth.password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(auth)
    assert "svc" in repr(auth)


@pytest.mark.parametrize(
    ("username", "password", "error"),
    [
        ("svc", PASSWORD.encode(), TypeError),
        ("svc", "", ValueError),
        ("", PASSWORD, ValueError),
        ("dom:svc", PASSWORD, ValueError),
        (None, PASSWORD, TypeError),
    ],
)
def test_basic_auth_validation_never_echoes_the_password(
    username: object, password: object, error: type[Exception]
) -> None:
    """Bad arguments raise with a message that does not contain the password."""
    with pytest.raises(error) as info:
        BasicAuth(username, password)  # type: ignore[arg-type]  # misuse on purpose

    assert PASSWORD not in str(info.value)


# NTLMAuth -------------------------------------------------------------------


class NTLMServer:
    """A MockTransport handler that checks NTLM logins with pyspnego.

    Each request without a handshake in progress is refused with 401; the
    three-leg exchange then runs like IIS's.  Connections are not modelled: a
    completed login holds for the handler's lifetime.
    """

    def __init__(self) -> None:
        import spnego

        self._spnego = spnego
        self.context: spnego.ContextProxy | None = None
        self.authorizations: list[str | None] = []
        self.logged_in = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        header = request.headers.get("Authorization")
        self.authorizations.append(header)
        if self.logged_in and header is None:
            return xml_response(200, ok_envelope("GetItem"))
        if header is None:
            return httpx.Response(401, headers={"WWW-Authenticate": "NTLM"})

        token = base64.b64decode(header.removeprefix("NTLM "))
        if self.context is None:
            context = self._spnego.server(protocol="ntlm")
            self.context = context
            challenge = context.step(token) or b""
            value = base64.b64encode(challenge).decode()
            return httpx.Response(401, headers={"WWW-Authenticate": f"NTLM {value}"})
        try:
            self.context.step(token)
        except self._spnego.exceptions.SpnegoError:
            self.context = None
            return httpx.Response(401, headers={"WWW-Authenticate": "NTLM"})
        self.context = None
        self.logged_in = True
        return xml_response(200, ok_envelope("GetItem"))


@pytest.fixture
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Give pyspnego's NTLM acceptor one known account."""
    users = tmp_path / "ntlm-users"
    users.write_text(f"CORP:svc:{PASSWORD}\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(users))


@pytest.mark.usefixtures("ntlm_users")
def test_ntlm_handshake_logs_in_then_reuses_the_login() -> None:
    """401, negotiate, authenticate; the next call needs no handshake."""
    server = NTLMServer()

    auth = NTLMAuth("CORP\\svc", PASSWORD)
    with make_transport(server, FakeClock(), auth=auth, retry=NO_RETRY) as transport:
        send_get_item(transport)
        send_get_item(transport)

    kinds = [None if a is None else a.split()[0] for a in server.authorizations]
    assert kinds == [None, "NTLM", "NTLM", None]
    assert server.logged_in


@pytest.mark.usefixtures("ntlm_users")
def test_ntlm_wrong_password_raises_authentication_error() -> None:
    """A refused NTLM login surfaces as AuthenticationError(401)."""
    server = NTLMServer()

    auth = NTLMAuth("CORP\\svc", "wrong-password")
    with (
        make_transport(server, FakeClock(), auth=auth, retry=NO_RETRY) as transport,
        pytest.raises(AuthenticationError) as info,
    ):
        send_get_item(transport)

    assert info.value.status_code == 401
    assert len(server.authorizations) == 3


def test_ntlm_not_offered_stops_after_one_request() -> None:
    """When the server offers only Basic, no NTLM handshake is attempted."""
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="x"'})

    auth = NTLMAuth("CORP\\svc", PASSWORD)
    with (
        make_transport(handler, FakeClock(), auth=auth, retry=NO_RETRY) as transport,
        pytest.raises(AuthenticationError),
    ):
        send_get_item(transport)

    assert len(requests) == 1


def test_ntlm_without_pyspnego_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing pyspnego raises ImportError naming crm-ews[ntlm]."""
    monkeypatch.setitem(sys.modules, "spnego", None)

    with pytest.raises(ImportError, match=r"crm-ews\[ntlm\]"):
        NTLMAuth("CORP\\svc", PASSWORD)


def test_ntlm_repr_masks_the_password() -> None:
    """repr(NTLMAuth) shows the user, not the password."""
    auth = NTLMAuth("CORP\\svc", PASSWORD)

    assert PASSWORD not in repr(auth)
    assert "svc" in repr(auth)


# OAuth2ClientCredentials ----------------------------------------------------


class TokenServer:
    """Issues numbered tokens and accepts only the current one at EWS."""

    def __init__(self, *, expires_in: object = 3600, refuse_all: bool = False) -> None:
        self.expires_in = expires_in
        self.refuse_all = refuse_all
        self.issued = 0
        self.token_forms: list[dict[str, list[str]]] = []
        self.token_timeouts: list[object] = []
        self.ews_tokens: list[str] = []
        self.valid: str | None = None

    def token(self, request: httpx.Request) -> httpx.Response:
        self.token_forms.append(parse_qs(request.content.decode()))
        self.token_timeouts.append(request.extensions.get("timeout"))
        self.issued += 1
        self.valid = f"token-{self.issued}-must-not-leak"
        return httpx.Response(
            200,
            json={
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "access_token": self.valid,
            },
        )

    def ews(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.ews_tokens.append(token)
        if self.refuse_all or token != self.valid:
            return httpx.Response(401)
        return xml_response(200, ok_envelope("GetItem"))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            return self.token(request)
        return self.ews(request)

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        # Give other tasks a turn while "the network" works.
        await asyncio.sleep(0)
        return self(request)


def oauth(clock: FakeClock | None = None, **options: object) -> OAuth2ClientCredentials:
    """Credentials against the test token endpoint."""
    return OAuth2ClientCredentials(
        TOKEN_URL,
        "app-id",
        CLIENT_SECRET,
        clock=clock or FakeClock(),
        **options,  # type: ignore[arg-type]  # test pass-through
    )


def test_oauth_token_is_fetched_once_and_cached() -> None:
    """Two calls share one token; the form asks for the default scope."""
    server = TokenServer()

    with make_transport(server, FakeClock(), auth=oauth()) as transport:
        send_get_item(transport)
        send_get_item(transport)

    assert server.issued == 1
    (form,) = server.token_forms
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": ["app-id"],
        "client_secret": [CLIENT_SECRET],
        "scope": [DEFAULT_OAUTH_SCOPE],
    }
    assert server.ews_tokens == ["token-1-must-not-leak"] * 2


def test_oauth_token_request_has_a_bounded_timeout() -> None:
    """The token request carries its own timeout, not an unbounded one."""
    server = TokenServer()

    with make_transport(
        server, FakeClock(), auth=oauth(token_timeout=12.0)
    ) as transport:
        send_get_item(transport)

    (timeout,) = server.token_timeouts
    assert timeout == {"connect": 12.0, "read": 12.0, "write": 12.0, "pool": 12.0}


def test_oauth_resource_for_adfs() -> None:
    """With resource=..., the form carries resource and no scope."""
    server = TokenServer()

    auth = oauth(resource="https://mail.example.com")
    with make_transport(server, FakeClock(), auth=auth) as transport:
        send_get_item(transport)

    (form,) = server.token_forms
    assert form["resource"] == ["https://mail.example.com"]
    assert "scope" not in form


def test_oauth_token_is_refreshed_shortly_before_expiry() -> None:
    """After expires_in minus the margin, the next call fetches a new token."""
    server = TokenServer(expires_in="600")
    clock = FakeClock()

    with make_transport(
        server, FakeClock(), auth=oauth(clock, refresh_margin=60.0)
    ) as transport:
        send_get_item(transport)
        clock.now += 539
        send_get_item(transport)
        clock.now += 2
        send_get_item(transport)

    assert server.issued == 2


def test_oauth_refreshes_once_on_401() -> None:
    """A revoked token is replaced once and the call resent with the new one."""
    server = TokenServer()

    with make_transport(server, FakeClock(), auth=oauth()) as transport:
        send_get_item(transport)
        server.valid = "revoked-server-side"
        send_get_item(transport)

    assert server.issued == 2
    assert server.ews_tokens == [
        "token-1-must-not-leak",
        "token-1-must-not-leak",
        "token-2-must-not-leak",
    ]


def test_oauth_persistent_401_refreshes_only_once() -> None:
    """When every token is refused, one refresh and one resend, then the error."""
    server = TokenServer(refuse_all=True)

    with (
        make_transport(server, FakeClock(), auth=oauth(), retry=NO_RETRY) as transport,
        pytest.raises(AuthenticationError) as info,
    ):
        send_get_item(transport)

    assert info.value.status_code == 401
    assert server.issued == 2
    assert len(server.ews_tokens) == 2


def test_oauth_token_endpoint_refusal_names_the_oauth_error() -> None:
    """A 400 invalid_client raises AuthenticationError without the secret."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "error": "invalid_client",
                "error_description": f"AADSTS7000215: bad secret {CLIENT_SECRET}",
            },
        )

    with (
        make_transport(handler, FakeClock(), auth=oauth()) as transport,
        pytest.raises(AuthenticationError) as info,
    ):
        send_get_item(transport)

    assert "invalid_client" in str(info.value)
    assert CLIENT_SECRET not in str(info.value)
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    "payload",
    [
        b"<html>login</html>",
        b'["not", "an", "object"]',
        b'{"token_type": "Bearer"}',
        b'{"access_token": "x", "token_type": "MAC"}',
    ],
)
def test_oauth_unusable_token_answers_raise_authentication_error(
    payload: bytes,
) -> None:
    """Non-JSON, wrong shape, no token or a non-Bearer type are refused."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=payload)

    with (
        make_transport(handler, FakeClock(), auth=oauth()) as transport,
        pytest.raises(AuthenticationError),
    ):
        send_get_item(transport)


def test_oauth_oversized_token_answer_is_refused() -> None:
    """A token answer announcing more than 1 MiB is not read."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            headers={"Content-Length": str(50 * 1024 * 1024)},
            stream=httpx.ByteStream(b"{}"),
        )

    with (
        make_transport(handler, FakeClock(), auth=oauth()) as transport,
        pytest.raises(AuthenticationError, match="too large"),
    ):
        send_get_item(transport)


def test_oauth_concurrent_async_calls_share_one_fetch() -> None:
    """Five concurrent async calls trigger a single token request."""
    server = TokenServer()

    async def main() -> None:
        async with make_async_transport(
            server.handle_async, FakeClock(), auth=oauth()
        ) as transport:
            await asyncio.gather(
                *(
                    transport.send(
                        operation="GetItem",
                        body=body_element("GetItem"),
                        impersonation=ALICE,
                        is_idempotent=True,
                    )
                    for _ in range(5)
                )
            )

    asyncio.run(main())

    assert server.issued == 1
    assert len(server.ews_tokens) == 5


def test_oauth_concurrent_threads_share_one_fetch() -> None:
    """Calls from several threads on one transport fetch one token."""
    server = TokenServer()
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    with make_transport(server, FakeClock(), auth=oauth()) as transport:

        def worker() -> None:
            start.wait()
            try:
                send_get_item(transport)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert server.issued == 1


def test_oauth_async_refresh_on_401() -> None:
    """The async flow also replaces a refused token once."""
    server = TokenServer()

    async def main() -> None:
        async with make_async_transport(
            server.handle_async, FakeClock(), auth=oauth()
        ) as transport:
            for revoke in (False, True):
                if revoke:
                    server.valid = "revoked-server-side"
                await transport.send(
                    operation="GetItem",
                    body=body_element("GetItem"),
                    impersonation=ALICE,
                    is_idempotent=True,
                )

    asyncio.run(main())

    assert server.issued == 2
    assert server.ews_tokens == [
        "token-1-must-not-leak",
        "token-1-must-not-leak",
        "token-2-must-not-leak",
    ]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"token_url": "http://login.example.com/token"}, ValueError),
        ({"token_url": "https://u:p@login.example.com/token"}, ValueError),
        ({"token_url": "not a url at all"}, ValueError),
        ({"scope": "a", "resource": "b"}, ValueError),
        ({"client_secret": ""}, ValueError),
        ({"client_secret": 42}, TypeError),
        ({"token_timeout": 0}, ValueError),
        ({"refresh_margin": -1}, ValueError),
    ],
)
def test_oauth_rejects_bad_configuration(
    arguments: dict[str, object], error: type[Exception]
) -> None:
    """Configuration errors raise at construction, never echoing the secret."""
    values: dict[str, object] = {
        "token_url": TOKEN_URL,
        "client_id": "app-id",
        "client_secret": CLIENT_SECRET,
    }
    values.update(arguments)

    with pytest.raises(error) as info:
        OAuth2ClientCredentials(**values)  # type: ignore[arg-type]  # misuse on purpose

    assert CLIENT_SECRET not in str(info.value)


def test_oauth_allows_plain_http_on_loopback_only() -> None:
    """http:// is accepted for 127.0.0.1 and localhost (local test servers)."""
    for url in ("http://127.0.0.1:8080/token", "http://localhost/token"):
        assert OAuth2ClientCredentials(url, "id", CLIENT_SECRET).token_url == url


def test_oauth_repr_hides_secret_and_token() -> None:
    """repr shows URL, client id and scope; never the secret or a token."""
    server = TokenServer()
    auth = oauth()

    with make_transport(server, FakeClock(), auth=auth) as transport:
        send_get_item(transport)

    text = repr(auth)
    assert CLIENT_SECRET not in text
    assert "token-1" not in text
    assert "app-id" in text


@pytest.mark.usefixtures("ntlm_users")
def test_ntlm_handshake_on_the_async_transport() -> None:
    """The same NTLMAuth object logs in through AsyncTransport."""
    server = NTLMServer()

    async def handler(request: httpx.Request) -> httpx.Response:
        return server(request)

    async def main() -> None:
        async with make_async_transport(
            handler, FakeClock(), auth=NTLMAuth("CORP\\svc", PASSWORD)
        ) as transport:
            await transport.send(
                operation="GetItem",
                body=body_element("GetItem"),
                impersonation=ALICE,
                is_idempotent=True,
            )

    asyncio.run(main())

    assert server.logged_in
    assert len(server.authorizations) == 3
