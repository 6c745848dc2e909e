"""Credentials for the service account, as :class:`httpx.Auth` flows.

Every class here is an ``httpx.Auth``, so one object serves both
:class:`~crm_ews._transport.Transport` and ``AsyncTransport``:

- :class:`BasicAuth`: HTTP Basic over TLS, for on-premises Exchange.
- :class:`NTLMAuth`: NTLM through pyspnego (``pip install 'crm-ews[ntlm]'``).
- :class:`OAuth2ClientCredentials`: app-only bearer tokens from Microsoft
  Entra ID or AD FS, cached and refreshed by the flow.

Any other ``httpx.Auth`` works as well (Kerberos, a token from a vault, a
client certificate done in the ``ssl.SSLContext``): the transport passes it to
httpx unchanged.  Such a flow must set ``Authorization`` itself and should keep
its secrets out of ``repr``.

Secrets are held in :class:`Secret`, which never shows its value in ``repr``,
``str`` or exception messages; the flows never log anything.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import ipaddress
import json
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, Final, TypeAlias, final

import httpx
from pydantic import SecretStr
from pydantic_core import core_schema

from crm_ews.errors import AuthenticationError

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler

__all__ = [
    "DEFAULT_OAUTH_SCOPE",
    "BasicAuth",
    "NTLMAuth",
    "OAuth2ClientCredentials",
    "Secret",
    "SecretLike",
]

#: The app-only scope for Exchange Online EWS.
DEFAULT_OAUTH_SCOPE: Final = "https://outlook.office365.com/.default"

#: Largest token endpoint answer read; real ones are a few kilobytes.
_MAX_TOKEN_RESPONSE_BYTES: Final = 1024 * 1024

_MASKED: Final = "**********"
_OAUTH_ERROR_CODE: Final = re.compile(r"^[a-z_]{1,64}$")
_LOOPBACK_NAMES: Final = frozenset({"localhost"})


@final
class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs.

    Compare two secrets with ``==`` (constant time); read the value with
    :meth:`get_secret_value` only where it is sent.  Usable as a pydantic field
    type: plain strings validate into a ``Secret`` and serialize masked.

    Args:
        value: The secret text.

    Raises:
        TypeError: ``value`` is not a ``str``.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret wraps a str, not {type(value).__name__}")
        self._value = value

    def get_secret_value(self) -> str:
        """The secret itself."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASKED!r})"

    def __str__(self) -> str:
        return _MASKED

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(
            self._value.encode("utf-8"), other._value.encode("utf-8")
        )

    def __hash__(self) -> int:
        return hash(self._value)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        """Validate ``str``/``Secret`` input; serialize as the mask."""
        from_str = core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema()
        )
        return core_schema.union_schema(
            [core_schema.is_instance_schema(cls), from_str],
            serialization=core_schema.plain_serializer_function_ser_schema(
                str, when_used="always"
            ),
        )


#: What the auth classes accept wherever a secret goes.
SecretLike: TypeAlias = str | Secret | SecretStr


def _secret(value: object, name: str) -> Secret:
    """Wrap a secret argument, refusing types and empty values without echoing."""
    if isinstance(value, Secret):
        secret = value
    elif isinstance(value, SecretStr):
        secret = Secret(value.get_secret_value())
    elif isinstance(value, str):
        secret = Secret(value)
    else:
        raise TypeError(
            f"{name} must be a str, Secret or SecretStr, not {type(value).__name__}"
        )
    if not secret.get_secret_value():
        raise ValueError(f"{name} must not be empty")
    return secret


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")
    return value


class BasicAuth(httpx.Auth):
    """HTTP Basic authentication.

    Args:
        username: The service account, ``user@example.com`` or ``DOMAIN\\user``.
        password: Its password.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is empty, or the username contains ``:``.

    Warning:
        Basic sends the password with every request; use it over HTTPS only.
    """

    def __init__(self, username: str, password: SecretLike) -> None:
        self.username = _text(username, "username")
        if ":" in self.username:
            raise ValueError("username must not contain ':' for Basic auth")
        self.password = _secret(password, "password")

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the ``Authorization`` header and send."""
        pair = f"{self.username}:{self.password.get_secret_value()}"
        encoded = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        request.headers["Authorization"] = f"Basic {encoded}"
        yield request

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password={self.password!r})"


class NTLMAuth(httpx.Auth):
    """NTLM authentication through pyspnego (the ``ntlm`` extra).

    IIS keeps an NTLM login for the life of the TCP connection, so a request is
    first sent as is; only when the server answers 401 and offers NTLM does the
    flow run the negotiate/challenge/authenticate exchange on that connection.
    On a kept-alive connection each call then costs one round trip.

    Args:
        username: ``DOMAIN\\user`` or ``user@example.com``.
        password: Its password.

    Raises:
        ImportError: pyspnego is not installed.
        TypeError: An argument has the wrong type.
        ValueError: An argument is empty.
    """

    # Limitation: httpx hands the three handshake requests to whichever pooled
    # connection is idle, and NTLM binds the login to one TCP connection.  Under
    # concurrent calls a handshake leg can land on another connection and the
    # call fails with AuthenticationError although the password is right.
    # Callers who need concurrency with NTLM pass
    # ``limits=httpx.Limits(max_connections=1)`` per transport and run several
    # transports, or use Basic over TLS or OAuth2ClientCredentials instead.
    #
    # Limitation: no channel binding (Extended Protection for Authentication):
    # a server that requires EPA refuses every NTLM login with 401.  Turn EPA
    # to "Accept" on the EWS virtual directory, or use another method.

    def __init__(self, username: str, password: SecretLike) -> None:
        try:
            import spnego  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "NTLMAuth needs pyspnego; install it with: pip install 'crm-ews[ntlm]'"
            ) from exc
        self.username = _text(username, "username")
        self.password = _secret(password, "password")

    def auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send as is; on a 401 that offers NTLM, run the handshake."""
        response = yield request
        if response.status_code != 401 or _ntlm_token(response) is None:
            return

        import spnego

        context = spnego.client(
            self.username,
            self.password.get_secret_value(),
            hostname=request.url.host,
            service="http",
            protocol="ntlm",
        )
        request.headers["Authorization"] = _ntlm_header(context.step())
        response = yield request

        challenge = _ntlm_token(response)
        if response.status_code != 401 or not challenge:
            return
        try:
            answer = context.step(challenge)
        except spnego.exceptions.SpnegoError as exc:
            raise AuthenticationError(
                "the server sent an NTLM challenge that could not be answered",
                status_code=401,
            ) from exc
        request.headers["Authorization"] = _ntlm_header(answer)
        yield request

    def __repr__(self) -> str:
        return f"NTLMAuth(username={self.username!r}, password={self.password!r})"


def _ntlm_header(token: bytes | None) -> str:
    return "NTLM " + base64.b64encode(token or b"").decode("ascii")


def _ntlm_token(response: httpx.Response) -> bytes | None:
    """The NTLM challenge in ``WWW-Authenticate``: ``b""`` when only offered."""
    for header in response.headers.get_list("WWW-Authenticate", split_commas=True):
        scheme, _, data = header.strip().partition(" ")
        if scheme.lower() != "ntlm":
            continue
        try:
            return base64.b64decode(data.strip(), validate=True)
        except ValueError:
            return None
    return None


class OAuth2ClientCredentials(httpx.Auth):
    """App-only OAuth 2.0 tokens (client credentials grant), cached.

    The token is fetched on first use through the same HTTP client, cached
    until ``refresh_margin`` seconds before it expires, and fetched again once
    when the server answers 401 (a revoked or rotated token).  Concurrent calls
    share one fetch: the others wait for it.

    Args:
        token_url: The token endpoint, e.g.
            ``https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`` or
            ``https://adfs.example.com/adfs/oauth2/token``.  HTTPS is required
            except for loopback hosts.
        client_id: The application (client) id.
        client_secret: The client secret.
        scope: The scope to ask for; defaults to :data:`DEFAULT_OAUTH_SCOPE`.
        resource: Ask for a ``resource`` instead of a scope (AD FS and the v1
            endpoint, e.g. ``https://mail.example.com``).  Give ``scope`` or
            ``resource``, not both.
        token_timeout: Seconds the token request may take in total.
        refresh_margin: Fetch a new token this many seconds before expiry.
        clock: Monotonic clock, injectable for tests.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is empty or out of range, or the URL is not
            HTTPS.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: SecretLike,
        *,
        scope: str | None = None,
        resource: str | None = None,
        token_timeout: float = 30.0,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = _token_url(token_url)
        self.client_id = _text(client_id, "client_id")
        self.client_secret = _secret(client_secret, "client_secret")
        if scope is not None and resource is not None:
            raise ValueError("give scope or resource, not both")
        self.resource = None if resource is None else _text(resource, "resource")
        self.scope = (
            _text(scope, "scope")
            if scope is not None
            else (None if resource is not None else DEFAULT_OAUTH_SCOPE)
        )
        if not token_timeout > 0:
            raise ValueError("token_timeout must be positive")
        if not refresh_margin >= 0:
            raise ValueError("refresh_margin must not be negative")
        self.token_timeout = float(token_timeout)
        self.refresh_margin = float(refresh_margin)
        self._clock = clock
        self._token: Secret | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach a cached or fresh token; refresh once on 401."""
        stale: Secret | None = None
        for attempt in range(2):
            with self._lock:
                token = self._cached(stale)
                if token is None:
                    token_response = yield self._token_request()
                    _check_token_size(token_response)
                    token_response.read()
                    token = self._store(token_response)

            request.headers["Authorization"] = _bearer(token)
            response = yield request
            if response.status_code != 401 or attempt:
                return
            # Read the refusal now so its connection is back in the pool before
            # this call waits for the lock that another token fetch may hold.
            response.read()
            stale = token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """The asyncio twin of :meth:`sync_auth_flow`."""
        stale: Secret | None = None
        for attempt in range(2):
            async with self._loop_lock():
                token = self._cached(stale)
                if token is None:
                    token_response = yield self._token_request()
                    _check_token_size(token_response)
                    await token_response.aread()
                    token = self._store(token_response)

            request.headers["Authorization"] = _bearer(token)
            response = yield request
            if response.status_code != 401 or attempt:
                return
            await response.aread()
            stale = token

    def _loop_lock(self) -> asyncio.Lock:
        """One lock per event loop: an asyncio.Lock must not cross loops."""
        loop = asyncio.get_running_loop()
        if self._async_lock is None or self._async_loop is not loop:
            self._async_lock = asyncio.Lock()
            self._async_loop = loop
        return self._async_lock

    def _cached(self, stale: Secret | None) -> Secret | None:
        token = self._token
        if token is None or token is stale or self._clock() >= self._expires_at:
            return None
        return token

    def _token_request(self) -> httpx.Request:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret.get_secret_value(),
        }
        if self.resource is not None:
            form["resource"] = self.resource
        elif self.scope is not None:
            form["scope"] = self.scope
        request = httpx.Request(
            "POST",
            self.token_url,
            data=form,
            headers={"Accept": "application/json"},
        )
        # Requests yielded by an auth flow skip the client's timeout defaults.
        request.extensions["timeout"] = httpx.Timeout(self.token_timeout).as_dict()
        return request

    def _store(self, response: httpx.Response) -> Secret:
        access_token, lifetime = _parse_token_response(response)
        token = Secret(access_token)
        margin = min(self.refresh_margin, lifetime / 2)
        self._token = token
        self._expires_at = self._clock() + lifetime - margin
        return token

    def __repr__(self) -> str:
        target = (
            f"resource={self.resource!r}"
            if self.resource is not None
            else f"scope={self.scope!r}"
        )
        return (
            f"OAuth2ClientCredentials(token_url={self.token_url!r}, "
            f"client_id={self.client_id!r}, client_secret={self.client_secret!r}, "
            f"{target})"
        )


#: Lifetime assumed when the token endpoint names none.
_DEFAULT_TOKEN_LIFETIME: Final = 300.0


def _bearer(token: Secret) -> str:
    return f"Bearer {token.get_secret_value()}"


def _token_url(value: object) -> str:
    text = _text(value, "token_url")
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ValueError("token_url is not a valid URL") from exc
    if url.userinfo:
        raise ValueError("token_url must not carry credentials")
    if url.scheme == "https" or (url.scheme == "http" and _is_loopback(url.host)):
        return text
    raise ValueError("token_url must use https")


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Limitation: httpx reads every response an auth flow hands back (token
# answers, 401 challenges) in full before the next request, without our body
# cap; only a declared Content-Length is checked here.  A token endpoint or
# proxy that streams an endless chunked body would exhaust memory.  Point
# token_url only at the identity provider you trust (Entra ID, AD FS).
def _check_token_size(response: httpx.Response) -> None:
    length = response.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > _MAX_TOKEN_RESPONSE_BYTES:
        raise AuthenticationError(
            "token endpoint answer is too large", status_code=response.status_code
        )


def _parse_token_response(response: httpx.Response) -> tuple[str, float]:
    """Access token and lifetime in seconds, or ``AuthenticationError``."""
    payload: object = None
    try:
        payload = json.loads(response.content)
    except ValueError:
        payload = None

    if response.status_code != 200:
        code = payload.get("error") if isinstance(payload, dict) else None
        suffix = (
            f": {code}"
            if isinstance(code, str) and _OAUTH_ERROR_CODE.match(code)
            else ""
        )
        raise AuthenticationError(
            f"token request refused with HTTP {response.status_code}{suffix}",
            status_code=response.status_code,
        )
    if not isinstance(payload, dict):
        raise AuthenticationError("token endpoint did not answer with a JSON object")

    access_token = payload.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise AuthenticationError("token endpoint answered without an access_token")
    token_type = payload.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise AuthenticationError("token endpoint issued a token that is not Bearer")

    return access_token, _lifetime(payload.get("expires_in"))


def _lifetime(raw: object) -> float:
    # Entra ID sends an int, some AD FS versions a string.
    if isinstance(raw, bool):
        return _DEFAULT_TOKEN_LIFETIME
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str) and raw.strip().isdigit():
        value = float(raw.strip())
    else:
        return _DEFAULT_TOKEN_LIFETIME
    return value if value > 0 else _DEFAULT_TOKEN_LIFETIME
