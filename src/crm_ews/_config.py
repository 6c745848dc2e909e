"""Configuration of the ``crm-ews`` command: a TOML file plus the environment.

Secrets never live in the file: the password or client secret is read from
an environment variable the file names (``password_env``), and a ``password``
key in the file is refused.  Unknown keys are refused too, so a typo fails
loudly instead of silently using a default.

Example::

    [exchange]
    url = "https://mail.example.com/EWS/Exchange.asmx"
    auth = "basic"                      # basic | ntlm | oauth
    username = "svc-crm@example.com"
    password_env = "CRM_EWS_PASSWORD"

    [crm]
    adapter = "crm_ews.repository:SQLiteCRM"
    options = { path = "crm.sqlite3" }

    [state]
    path = "crm-ews-state.sqlite3"

    [sync]
    mailboxes = ["alice@example.com", "bob@example.com"]

    [policies.contact]
    conflict = "crm_wins"
"""

from __future__ import annotations

import importlib
import os
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from crm_ews._soap import ServerVersion
from crm_ews.auth import BasicAuth, NTLMAuth, OAuth2ClientCredentials, Secret
from crm_ews.repository import AsyncCRMRepository, CRMRepository, EntityType
from crm_ews.sync import (
    ConflictPolicy,
    CRMDeletePolicy,
    Direction,
    EntityPolicy,
    EWSDeletePolicy,
    MassDeletionGuard,
    TimeWindow,
)

__all__ = ["ConfigError", "SyncConfig", "load_config"]

_SECRET_KEYS = frozenset({"password", "client_secret", "secret", "token"})


class ConfigError(ValueError):
    """The configuration file or environment is incomplete or wrong."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExchangeSection(_Strict):
    """``[exchange]``: where Exchange is and how the service account logs in."""

    url: str
    auth: Literal["basic", "ntlm", "oauth"] = "basic"
    username: str | None = None
    password_env: str = "CRM_EWS_PASSWORD"  # noqa: S105 (a variable's name)
    token_url: str | None = None
    client_id: str | None = None
    client_secret_env: str = "CRM_EWS_CLIENT_SECRET"  # noqa: S105 (a name)
    scope: str | None = None
    resource: str | None = None
    server_version: ServerVersion = ServerVersion.EXCHANGE2016
    verify: bool | str = True
    timeout: float = Field(default=30.0, gt=0)

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, value: str) -> str:
        url = httpx.URL(value)
        if url.scheme not in ("https", "http"):
            raise ValueError("url must be http(s)")
        if url.scheme == "http" and url.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("plain http is only allowed to loopback; use https")
        return value


class CRMSection(_Strict):
    """``[crm]``: the adapter, by import path, and its keyword arguments."""

    adapter: str
    options: dict[str, Any] = Field(default_factory=dict)


class StateSection(_Strict):
    """``[state]``: the SQLite state store."""

    path: Path = Path("crm-ews-state.sqlite3")


class SyncSection(_Strict):
    """``[sync]``: the enrolled mailboxes and the runner's limits."""

    mailboxes: list[str] = Field(min_length=1)
    concurrency: int = Field(default=16, ge=1, le=64)
    worker_id: str | None = None


class PolicySection(_Strict):
    """``[policies.<entity>]``: one entity's policy."""

    conflict: ConflictPolicy
    direction: Direction = Direction.TWO_WAY

    @field_validator("conflict")
    @classmethod
    def _not_callable(cls, value: ConflictPolicy) -> ConflictPolicy:
        if value is ConflictPolicy.CALLABLE:
            raise ValueError(
                "the callable policy needs Python code; use it through the "
                "library (EntityPolicy(conflict_resolver=...)), not the file"
            )
        return value

    ews_delete: EWSDeletePolicy = EWSDeletePolicy.MOVE_TO_DELETED_ITEMS
    crm_delete: CRMDeletePolicy = CRMDeletePolicy.SOFT_DELETE
    mass_deletion_max_ratio: float = Field(default=0.5, ge=0, le=1)
    mass_deletion_min_count: int = Field(default=10, ge=0)
    window_past_days: int | None = Field(default=None, ge=0)
    window_future_days: int | None = Field(default=None, ge=0)


class DoctorSection(_Strict):
    """``[doctor]``: mailboxes that must NOT be reachable."""

    unenrolled_sample: list[str] = Field(default_factory=list)


class ScopeSection(_Strict):
    """``[scope]``: how ``scope-script`` tags the integration mailboxes."""

    attribute: str = "CustomAttribute10"
    marker: str = "CRMSync"
    scope_name: str = "CRM Integration Users"


class SyncConfig(_Strict):
    """The whole configuration file."""

    exchange: ExchangeSection
    crm: CRMSection | None = None
    state: StateSection = Field(default_factory=StateSection)
    sync: SyncSection
    policies: dict[EntityType, PolicySection] = Field(default_factory=dict)
    doctor: DoctorSection = Field(default_factory=DoctorSection)
    scope: ScopeSection = Field(default_factory=ScopeSection)

    def entity_policies(self) -> list[EntityPolicy]:
        """The engine policies; entities without a section are not synced."""
        policies = []
        for entity, section in self.policies.items():
            window = None
            if (
                section.window_past_days is not None
                or section.window_future_days is not None
            ):
                default = TimeWindow()
                window = TimeWindow(
                    past=default.past
                    if section.window_past_days is None
                    else timedelta(days=section.window_past_days),
                    future=default.future
                    if section.window_future_days is None
                    else timedelta(days=section.window_future_days),
                )
            policies.append(
                EntityPolicy(
                    entity=entity,
                    conflict=section.conflict,
                    direction=section.direction,
                    ews_delete=section.ews_delete,
                    crm_delete=section.crm_delete,
                    mass_deletion=MassDeletionGuard(
                        max_ratio=section.mass_deletion_max_ratio,
                        min_count=section.mass_deletion_min_count,
                    ),
                    window=window,
                )
            )
        return policies

    def auth(self, environ: Mapping[str, str] | None = None) -> httpx.Auth:
        """The service account's credentials, secrets read from the environment.

        Raises:
            ConfigError: A needed setting or environment variable is missing.
        """
        env = os.environ if environ is None else environ
        section = self.exchange
        if section.auth == "oauth":
            secret = env.get(section.client_secret_env)
            if not (section.token_url and section.client_id and secret):
                raise ConfigError(
                    "oauth needs token_url, client_id and the client secret in "
                    f"${section.client_secret_env}"
                )
            return OAuth2ClientCredentials(
                section.token_url,
                section.client_id,
                Secret(secret),
                scope=section.scope,
                resource=section.resource,
            )
        password = env.get(section.password_env)
        if not section.username or not password:
            raise ConfigError(
                f"{section.auth} auth needs username and the password in "
                f"${section.password_env}"
            )
        if section.auth == "ntlm":
            return NTLMAuth(section.username, Secret(password))
        return BasicAuth(section.username, Secret(password))

    def repositories(
        self,
    ) -> dict[EntityType, CRMRepository[Any] | AsyncCRMRepository[Any]]:
        """Build the CRM adapter named by import path and return its repositories.

        The adapter is called with ``[crm].options`` as keyword arguments and
        must return an object with ``repository(entity)`` (like
        :class:`~crm_ews.repository.SQLiteCRM`) or a mapping of entity name
        to repository.

        Raises:
            ConfigError: The adapter cannot be imported or returns neither.
        """
        if self.crm is None:
            raise ConfigError("the [crm] section naming the adapter is missing")
        target = _import(self.crm.adapter)
        try:
            built = target(**self.crm.options)
        except TypeError as exc:
            raise ConfigError(
                f"adapter {self.crm.adapter} refused its options: {exc}"
            ) from exc

        entities = [EntityType(entity) for entity in self.policies]
        if hasattr(built, "repository"):
            return {entity: built.repository(entity) for entity in entities}
        if isinstance(built, Mapping):
            found = {EntityType(key): value for key, value in built.items()}
            missing = [e.value for e in entities if e not in found]
            if missing:
                raise ConfigError(f"adapter has no repository for {', '.join(missing)}")
            return {entity: found[entity] for entity in entities}
        raise ConfigError(
            "the adapter must return an object with repository(entity) or a mapping"
        )


def _import(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError("adapter must look like 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name}: {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ConfigError(f"{module_name} has no {attribute}") from exc


def _refuse_secrets(data: Mapping[str, Any], where: str = "") -> None:
    for key, value in data.items():
        if key in _SECRET_KEYS:
            raise ConfigError(
                f"{where}{key} must not be in the file; name an environment "
                f"variable with {key}_env instead"
            )
        if isinstance(value, Mapping):
            _refuse_secrets(value, f"{where}{key}.")


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> SyncConfig:
    """Read and validate a configuration file.

    ``CRM_EWS_URL`` and ``CRM_EWS_USERNAME`` in the environment override the
    file's ``[exchange]`` url and username.

    Raises:
        ConfigError: The file is missing, not TOML, holds a secret, or does
            not validate (the message names the offending keys, never values).
    """
    env = os.environ if environ is None else environ
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    _refuse_secrets(data)

    exchange = dict(data.get("exchange", {}))
    if "CRM_EWS_URL" in env:
        exchange["url"] = env["CRM_EWS_URL"]
    if "CRM_EWS_USERNAME" in env:
        exchange["username"] = env["CRM_EWS_USERNAME"]
    data["exchange"] = exchange
    try:
        return SyncConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(f"{path}: {problems}") from None
