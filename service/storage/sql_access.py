"""Access tokens and the audit log in SQL, shared by SQLite and PostgreSQL (a part of SqlCallStore)."""

from __future__ import annotations

import time
from typing import Any

from service.auth import AccessRole, TokenRecord
from service.domain import AuditEntry


class SqlAccess:
    """Needs `_run(sql, args)` from the store it is part of."""

    def _run(self, sql: str, args: tuple | list = ()) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- access tokens ------------------------------------------------------------------------------------
    def add_token(self, record: TokenRecord) -> None:
        self._run(
            "INSERT INTO tokens (token_id, name, role, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
            (record.token_id, record.name, record.role.value, record.secret_sha256, record.created_at),
        )

    def get_token(self, token_id: str) -> TokenRecord | None:
        row = self._run("SELECT * FROM tokens WHERE token_id = ?", (token_id,)).fetchone()
        return None if row is None else _token(row)

    def list_tokens(self) -> list[TokenRecord]:
        return [_token(r) for r in self._run("SELECT * FROM tokens ORDER BY created_at").fetchall()]

    def revoke_token(self, token_id: str) -> bool:
        cur = self._run(
            "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL", (time.time(), token_id)
        )
        return cur.rowcount == 1

    # ---- audit log ----------------------------------------------------------------------------------------
    def add_audit(self, entry: AuditEntry) -> None:
        self._run(
            "INSERT INTO audit (at, who, role, action, call_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
            (entry.at, entry.who, entry.role, entry.action, entry.call_id, entry.detail),
        )

    def list_audit(self, *, call_id: str = "", limit: int = 1000) -> list[AuditEntry]:
        sql, args = "SELECT * FROM audit", []
        if call_id:
            sql += " WHERE call_id = ?"
            args.append(call_id)
        rows = self._run(sql + " ORDER BY at DESC, id DESC LIMIT ?", [*args, limit]).fetchall()
        return [AuditEntry(r["at"], r["who"], r["role"], r["action"], r["call_id"], r["detail"]) for r in rows]


def _token(row: Any) -> TokenRecord:
    return TokenRecord(
        row["token_id"],
        row["name"],
        AccessRole(row["role"]),
        row["secret_sha256"],
        row["created_at"],
        row["revoked_at"],
    )
