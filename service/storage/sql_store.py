"""The CallStore logic once, in SQL both engines understand; SQLite and PostgreSQL differ only in how they
connect, migrate, and spell a few functions (the Dialect). So both behave the same, and one test suite runs
against both."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.audio.formats import AudioFormat, Encoding
from service.domain import AGENT_KEYS, CallOrder, CallQuery, CallRecord, CallStatus, Role
from service.dynamics.conversation import Dynamics, to_dict
from service.errors import CallExists, CallNotFound
from service.escalation.alerts import Alert, alert_from_json, alert_to_json
from service.storage.sql_access import SqlAccess
from service.storage.sql_timeline import SqlTimeline, _json

_ORDER_COLUMN = {order: f"c.{order.field}" for order in CallOrder}


@dataclass(frozen=True)
class Dialect:
    """The few spellings that differ. `{col}` / `{key}` are filled in by the store (never with user input)."""

    json_field: str  # one string value of a JSON object column
    json_values: str  # a table of the JSON object's values, as column `value`
    string_agg: str  # distinct values joined with commas
    greatest: str  # the larger of two numbers
    now_s: str  # the database's clock in unix seconds (leases: instances' clocks may disagree)


def statements(script: str) -> list[str]:
    """The statements of a migration script (our scripts have no `;` inside literals)."""
    return [s for s in script.split(";") if s.strip()]


def like_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (with ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Fetched:
    """Rows already read (no cursor outlives its connection or lock), with the cursor interface the store uses."""

    def __init__(self, rows: list, rowcount: int) -> None:
        self._rows, self.rowcount = rows, rowcount

    def fetchall(self) -> list:
        return self._rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None


class SqlCallStore(SqlTimeline, SqlAccess):
    """Subclasses provide `_run(sql, args) -> cursor` (with `?` placeholders and rows readable by column
    name), `_integrity_error` (the engine's exception type), `dialect` and `owner` (this instance's id:
    crash recovery only touches the calls this instance was streaming)."""

    dialect: Dialect
    owner: str
    _integrity_error: type[Exception]

    def _run(self, sql: str, args: tuple | list = ()) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- calls ------------------------------------------------------------------------------------------
    def create_call(self, record: CallRecord) -> None:
        try:
            self._run(
                "INSERT INTO calls (call_id, started_at, status, encoding, sample_rate_hz, channel_count,"
                " roles, language, metadata, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.call_id,
                    record.started_at,
                    record.status.value,
                    record.format.encoding.value,
                    record.format.sample_rate_hz,
                    record.format.channel_count,
                    json.dumps([r.value for r in record.roles]),
                    record.language,
                    json.dumps(record.metadata, ensure_ascii=False),
                    self.owner,
                ),
            )
        except self._integrity_error:
            raise CallExists(f"call {record.call_id} already exists; use a new call_id") from None

    # Progress and the end are written only by the instance that owns the call: one that lost the database
    # for longer than its lease, while another took the call over, cannot overwrite the new owner's row.
    def update_progress(
        self, call_id: str, *, audio_bytes: int, utterances_shed: int, segments_dropped: int = 0
    ) -> None:
        self._run(
            "UPDATE calls SET audio_bytes = ?, utterances_shed = ?, segments_dropped = ? WHERE call_id = ? AND owner = ?",
            (audio_bytes, utterances_shed, segments_dropped, call_id, self.owner),
        )

    def save_dynamics(self, call_id: str, dynamics: Dynamics) -> None:
        """The call's conversation dynamics so far (the JSON for GetCall, the headline numbers as columns
        for lists and sorting); written by the owning instance only, like progress."""
        share = {r: sum(s.talk_share for s in dynamics.speakers if s.role is r) for r in Role}
        self._run(
            "UPDATE calls SET dynamics = ?, customer_talk_share = ?, agent_talk_share = ?, overtalk_s = ?,"
            " interruptions = ?, longest_silence_s = ? WHERE call_id = ? AND owner = ?",
            (
                json.dumps(to_dict(dynamics), ensure_ascii=False),
                share[Role.CUSTOMER],
                share[Role.AGENT],
                dynamics.overtalk_s,
                len(dynamics.interruptions),
                dynamics.longest_silence_s,
                call_id,
                self.owner,
            ),
        )

    def finish_call(
        self,
        call_id: str,
        *,
        status: CallStatus,
        end_reason: str,
        audio_bytes: int,
        utterances_shed: int,
        segments_dropped: int = 0,
    ) -> None:
        self._run(
            "UPDATE calls SET status = ?, end_reason = ?, ended_at = ?, audio_bytes = ?, utterances_shed = ?, segments_dropped = ?"
            " WHERE call_id = ? AND owner = ?",
            (
                status.value,
                end_reason,
                time.time(),
                audio_bytes,
                utterances_shed,
                segments_dropped,
                call_id,
                self.owner,
            ),
        )

    def reopen_call(self, call_id: str, *, audio_bytes: int) -> bool:
        """An INCOMPLETE call continues (resume): ACTIVE again, owned by this instance, its end cleared. False
        if it was not INCOMPLETE any more (another instance resumed it first)."""
        return (
            self._run(
                "UPDATE calls SET status = 'ACTIVE', end_reason = '', ended_at = NULL, audio_bytes = ?, owner = ?"
                " WHERE call_id = ? AND status = 'INCOMPLETE'",
                (audio_bytes, self.owner, call_id),
            ).rowcount
            == 1
        )

    def recover_interrupted(self, audio_sizes: dict[str, int]) -> list[str]:
        """Calls this instance left ACTIVE when it stopped: INCOMPLETE, with the audio size on disk."""
        rows = self._run("SELECT call_id FROM calls WHERE status = 'ACTIVE' AND owner = ?", (self.owner,)).fetchall()
        ids = [r["call_id"] for r in rows]
        for call_id in ids:
            self._run(
                "UPDATE calls SET status = 'INCOMPLETE', end_reason = 'server stopped during the call',"
                " ended_at = COALESCE(ended_at, ?), audio_bytes = ? WHERE call_id = ?",
                (time.time(), audio_sizes.get(call_id, 0), call_id),
            )
        return ids

    def heartbeat(self, now: float | None = None) -> None:
        """This instance is alive: renew its lease (see recover_abandoned), on the database's clock."""
        at, args = (self.dialect.now_s, (self.owner,)) if now is None else ("?", (self.owner, now))
        self._run(
            f"INSERT INTO instances (instance_id, heartbeat_at) VALUES (?, {at})"
            " ON CONFLICT (instance_id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            args,
        )

    def recover_abandoned(
        self, lease_s: float, audio_size: Callable[[str], int], *, call_id: str | None = None
    ) -> list[str]:
        """Calls another instance was streaming when its lease ran out (no heartbeat for `lease_s`: it crashed
        or lost the database): INCOMPLETE, with the audio size on disk, so any instance can resume them and
        the live board stops showing them. Owners that never took a lease are left to their own restart."""
        sql = (
            "SELECT c.call_id, c.owner FROM calls c JOIN instances i ON i.instance_id = c.owner"
            f" WHERE c.status = 'ACTIVE' AND c.owner != ? AND i.heartbeat_at < {self.dialect.now_s} - ?"
        )
        args: list = [self.owner, lease_s]
        if call_id is not None:
            sql += " AND c.call_id = ?"
            args.append(call_id)
        recovered = []
        for row in self._run(sql, args).fetchall():
            done = self._run(
                "UPDATE calls SET status = 'INCOMPLETE', end_reason = ?, ended_at = ?, audio_bytes = ?"
                " WHERE call_id = ? AND status = 'ACTIVE' AND owner = ?",
                (
                    f"instance {row['owner']} stopped answering during the call",
                    time.time(),
                    audio_size(row["call_id"]),
                    row["call_id"],
                    row["owner"],
                ),
            )
            if done.rowcount == 1:
                recovered.append(row["call_id"])
        return recovered

    def _select(self) -> str:
        return (
            "SELECT c.*, (SELECT COUNT(*) FROM segments s WHERE s.call_id = c.call_id) AS segment_count,"
            " (SELECT COALESCE(MAX(a.level), 0) FROM alerts a WHERE a.call_id = c.call_id) AS max_alert_level,"
            " (SELECT COUNT(*) FROM alerts a WHERE a.call_id = c.call_id) AS alert_count,"
            " (SELECT COUNT(*) FROM alerts a WHERE a.call_id = c.call_id AND a.status = 'OPEN') AS open_alert_count,"
            f" (SELECT {self.dialect.string_agg.format(col='a.reason')} FROM alerts a WHERE a.call_id = c.call_id)"
            " AS alert_reasons FROM calls c"
        )

    def get_call(self, call_id: str) -> CallRecord:
        row = self._run(f"{self._select()} WHERE c.call_id = ?", (call_id,)).fetchone()
        if row is None:
            raise CallNotFound(f"no call with id {call_id[:80]!r}; `callguard calls` lists stored calls")
        return _record(row)

    def list_calls(
        self, *, limit: int, after: tuple[float, str] | None = None, query: CallQuery | None = None
    ) -> list[CallRecord]:
        query = query or CallQuery()
        where, args = self._where(query)
        column = _ORDER_COLUMN[query.order]
        if after is not None:
            where.append(f"({column} < ? OR ({column} = ? AND c.call_id < ?))")
            args += [after[0], after[0], after[1]]
        sql = self._select() + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY {column} DESC, c.call_id DESC LIMIT ?"
        return [_record(r) for r in self._run(sql, [*args, limit]).fetchall()]

    def _where(self, q: CallQuery) -> tuple[list[str], list[object]]:
        """SQL conditions for a query; every value is a bound parameter."""
        where: list[str] = []
        args: list[object] = []
        if q.status is not None:
            where.append("c.status = ?")
            args.append(q.status.value)
        if q.started_from is not None:
            where.append("c.started_at >= ?")
            args.append(q.started_from)
        if q.started_to is not None:
            where.append("c.started_at < ?")
            args.append(q.started_to)
        # Alert conditions hold for one and the same alert: "HIGH + ANGER_SUSTAINED" means a HIGH anger alert.
        alert_where: list[str] = []
        if q.min_alert_level:
            alert_where.append("a.level >= ?")
            args.append(q.min_alert_level)
        if q.reason:
            alert_where.append("a.reason = ?")
            args.append(q.reason)
        if q.unacknowledged_only:
            alert_where.append("a.status = 'OPEN'")
        if alert_where:
            where.append(f"EXISTS (SELECT 1 FROM alerts a WHERE a.call_id = c.call_id AND {' AND '.join(alert_where)})")
        field = self.dialect.json_field.format
        if q.agent:  # the first agent key that is set (as agent_of reads it)
            value = "COALESCE(" + ", ".join(f"NULLIF({field(col='c.metadata', key=k)}, '')" for k in AGENT_KEYS) + ")"
            where.append(f"{value} = ?")
            args.append(q.agent)
        if q.queue:
            where.append(f"{field(col='c.metadata', key='queue')} = ?")
            args.append(q.queue)
        if q.text:
            pattern = like_pattern(q.text.lower())
            values = self.dialect.json_values.format(col="c.metadata")
            where.append(
                f"(lower(c.call_id) LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM {values}"
                " WHERE lower(m.value) LIKE ? ESCAPE '\\') OR EXISTS"
                " (SELECT 1 FROM segments s WHERE s.call_id = c.call_id AND lower(s.text) LIKE ? ESCAPE '\\'))"
            )
            args += [pattern, pattern, pattern]
        return where, args

    def order_key(self, record: CallRecord, order: CallOrder) -> tuple[float, str]:
        """The (sort value, call id) a page ends on: pass it as `after` for the next page."""
        return float(getattr(record, order.field)), record.call_id

    # ---- alerts -------------------------------------------------------------------------------------------
    def save_alert(self, alert: Alert) -> bool:
        """Insert or update, only to a newer version (a late writer never rolls an alert back) and never once
        acknowledged (an instance that has not heard of the acknowledgement yet cannot reopen it); True if
        written."""
        return (
            self._run(
                "INSERT INTO alerts (alert_id, call_id, status, level, reason, raised_at, version, alert)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET status = excluded.status,"
                " level = excluded.level, version = excluded.version, alert = excluded.alert"
                " WHERE excluded.version > alerts.version AND alerts.status = 'OPEN'",
                (
                    alert.alert_id,
                    alert.call_id,
                    alert.status.value,
                    int(alert.level),
                    alert.reason,
                    alert.raised_at,
                    alert.version,
                    json.dumps(alert_to_json(alert), ensure_ascii=False),
                ),
            ).rowcount
            == 1
        )

    def get_alert(self, alert_id: str) -> Alert | None:
        row = self._run("SELECT alert FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        return None if row is None else alert_from_json(_json(row["alert"]))

    def list_alerts(self, *, call_id: str = "", open_only: bool = False) -> list[Alert]:
        where, args = [], []
        if call_id:
            where.append("call_id = ?")
            args.append(call_id)
        if open_only:
            where.append("status = 'OPEN'")
        sql = "SELECT alert FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._run(sql + " ORDER BY raised_at, alert_id", args).fetchall()
        return [alert_from_json(_json(r["alert"])) for r in rows]

    # ---- retention ----------------------------------------------------------------------------------------
    def calls_started_before(self, before: float) -> list[str]:
        """Finished calls (not ACTIVE) that started before `before`: candidates for purging."""
        rows = self._run(
            "SELECT call_id FROM calls WHERE started_at < ? AND status != 'ACTIVE' ORDER BY started_at", (before,)
        ).fetchall()
        return [r["call_id"] for r in rows]

    def delete_call(self, call_id: str) -> bool:
        """The call and everything stored with it (segments, emotions, alerts cascade), unless it is in
        progress (it may have been resumed since it was chosen); True if it was deleted."""
        return self._run("DELETE FROM calls WHERE call_id = ? AND status != 'ACTIVE'", (call_id,)).rowcount == 1


def _record(row: Any) -> CallRecord:
    return CallRecord(
        call_id=row["call_id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        status=CallStatus(row["status"]),
        end_reason=row["end_reason"],
        format=AudioFormat(Encoding(row["encoding"]), row["sample_rate_hz"], row["channel_count"]),
        roles=tuple(Role(r) for r in _json(row["roles"])),
        language=row["language"],
        metadata=_json(row["metadata"]),
        audio_bytes=row["audio_bytes"],
        segment_count=row["segment_count"],
        utterances_shed=row["utterances_shed"],
        segments_dropped=row["segments_dropped"],
        peak_anger=row["peak_anger"],
        peak_disappointment=row["peak_disappointment"],
        max_alert_level=row["max_alert_level"],
        alert_count=row["alert_count"],
        open_alert_count=row["open_alert_count"],
        alert_reasons=tuple(sorted(row["alert_reasons"].split(","))) if row["alert_reasons"] else (),
        customer_talk_share=row["customer_talk_share"],
        agent_talk_share=row["agent_talk_share"],
        overtalk_s=row["overtalk_s"],
        interruptions=row["interruptions"],
        longest_silence_s=row["longest_silence_s"],
        dynamics_json=row["dynamics"],
    )
