"""Who may do what: API tokens, their roles, and the permission each RPC and HTTP route needs.

Tokens look like `cg_<id>_<secret>`. Only a SHA-256 hash of the secret is stored: the secret is 256 random
bits, so a fast hash is safe (no password stretching needed) and a stolen database grants nothing. The
token is shown once, when created. Both front doors (gRPC metadata, HTTP header or session cookie) carry it
as `authorization: Bearer <token>`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from service.errors import CallguardError, InvalidInput

TOKEN_PREFIX = "cg"


class AccessRole(enum.Enum):
    INGEST = "ingest"  # telephony gateways: stream calls, nothing else
    SUPERVISOR = "supervisor"  # live board: alerts, acknowledge, read and listen in on a call
    QA = "qa"  # list, read, replay and export stored calls
    MONITOR = "monitor"  # a metrics scraper (Prometheus): /metrics only, no call data
    ADMIN = "admin"  # everything


class Permission(enum.Enum):
    STREAM = "stream calls"
    LIVE = "see calls in progress"
    ALERTS = "receive alerts"
    ACKNOWLEDGE = "acknowledge alerts"
    LIST_CALLS = "list stored calls"
    READ_CALL = "read a stored call"
    LISTEN = "play stored audio"
    EXPORT = "export calls"
    METRICS = "read service metrics"


GRANTS: dict[AccessRole, frozenset[Permission]] = {
    AccessRole.INGEST: frozenset({Permission.STREAM}),
    AccessRole.SUPERVISOR: frozenset(
        {Permission.LIVE, Permission.ALERTS, Permission.ACKNOWLEDGE, Permission.READ_CALL, Permission.LISTEN}
    ),
    AccessRole.QA: frozenset(
        {Permission.ALERTS, Permission.LIST_CALLS, Permission.READ_CALL, Permission.LISTEN, Permission.EXPORT}
    ),
    AccessRole.MONITOR: frozenset({Permission.METRICS}),
    AccessRole.ADMIN: frozenset(Permission),
}


class Unauthenticated(CallguardError):
    """No token, or one the server does not know."""


class PermissionDenied(CallguardError):
    """A valid token whose role does not allow this."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: recorded in the audit log."""

    name: str
    role: AccessRole
    token_id: str = ""

    def can(self, permission: Permission) -> bool:
        return permission in GRANTS[self.role]


OPEN_ACCESS = Principal("anonymous (auth off)", AccessRole.ADMIN)


@dataclass(frozen=True)
class TokenRecord:
    token_id: str
    name: str
    role: AccessRole
    secret_sha256: str
    created_at: float
    revoked_at: float | None = None


class TokenStore(Protocol):
    def add_token(self, record: TokenRecord) -> None: ...
    def get_token(self, token_id: str) -> TokenRecord | None: ...
    def list_tokens(self) -> list[TokenRecord]: ...
    def revoke_token(self, token_id: str) -> bool: ...


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(store: TokenStore, role: AccessRole, name: str) -> tuple[str, TokenRecord]:
    """A new token for `role`; returns the token (show it once, it is not stored) and its record."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidInput("give the token a name of 1-100 characters, e.g. --name gateway-sbc-1")
    token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    record = TokenRecord(token_id, name, role, _digest(secret), time.time())
    store.add_token(record)
    return f"{TOKEN_PREFIX}_{token_id}_{secret}", record


class Authenticator:
    """Turns a presented token into a Principal. With `required` false (the embedded default on loopback)
    every caller is OPEN_ACCESS, but a token that is presented is still checked, so clients work unchanged
    when auth is switched on."""

    def __init__(self, store: TokenStore, *, required: bool) -> None:
        self._store = store
        self.required = required

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            if self.required:
                raise Unauthenticated(
                    "this server requires a token: pass --token (or set CALLGUARD_TOKEN); an admin creates one with "
                    "`callguard token create --role ROLE`"
                )
            return OPEN_ACCESS
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("send the token as `authorization: Bearer <token>`")
        parts = token.strip().split("_", 2)
        record = self._store.get_token(parts[1]) if len(parts) == 3 and parts[0] == TOKEN_PREFIX else None
        if record is None or not hmac.compare_digest(record.secret_sha256, _digest(parts[2])):
            raise Unauthenticated("the token is not valid on this server; ask an admin for a new one")
        if record.revoked_at is not None:
            raise Unauthenticated(f"token {record.token_id} ({record.name}) was revoked; ask an admin for a new one")
        return Principal(record.name, record.role, record.token_id)

    @staticmethod
    def authorize(principal: Principal, permission: Permission) -> None:
        if not principal.can(permission):
            raise PermissionDenied(
                f"role {principal.role.value} may not {permission.value}; roles that may: "
                + ", ".join(r.value for r, grants in GRANTS.items() if permission in grants)
            )

    def check(self, authorization: str | None, permission: Permission) -> Principal:
        principal = self.authenticate(authorization)
        self.authorize(principal, permission)
        return principal
