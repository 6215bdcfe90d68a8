"""What the console's HTTP routes share: protobuf's JSON mapping, the permission dependency, level parsing."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from service.auth import Permission, Principal
from service.errors import InvalidInput
from service.escalation.policy import Level

SESSION_COOKIE = "callguard_token"


def as_json(msg: Message) -> dict[str, Any]:
    """Protobuf's canonical JSON mapping, with every field present (enums by name, times in RFC 3339)."""
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def level_value(value: str, name: str) -> int:
    """A level name from a query parameter ("", LOW, MEDIUM, HIGH; any case) as its number (0: none given)."""
    if not value:
        return 0
    try:
        return int(Level[value.upper()])
    except KeyError:
        raise InvalidInput(f"{name}={value[:20]!r} is not LOW, MEDIUM or HIGH") from None


def needs(permission: Permission) -> Any:
    """Route dependency: the caller's token (Authorization header, or the console's session cookie) must grant
    `permission`. Module level, so FastAPI can resolve it from the (string) annotations."""

    def principal(request: Request) -> Principal:
        header = request.headers.get("authorization")
        if not header and request.cookies.get(SESSION_COOKIE):
            header = f"Bearer {request.cookies[SESSION_COOKIE]}"
        return request.app.state.auth.check(header, permission)

    return Depends(principal)
