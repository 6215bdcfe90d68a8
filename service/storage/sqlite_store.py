"""CallStore on SQLite (the embedded default): WAL mode, numbered schema migrations, one guarded connection."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from pathlib import Path

from service.audio.formats import AudioFormat, Encoding
from service.auth import AccessRole, TokenRecord
from service.domain import AuditEntry, CallOrder, CallQuery, CallRecord, CallStatus, Role
from service.emotion import EmotionEstimate
from service.errors import CallExists, CallNotFound
from service.escalation.alerts import Alert, alert_from_json, alert_to_json
from service.transcription.results import Segment, Word

# Each entry migrates the schema from version i to i + 1. Never edit a released entry: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE calls (
        call_id         TEXT PRIMARY KEY,
        started_at      REAL NOT NULL,          -- unix seconds
        ended_at        REAL,
        status          TEXT NOT NULL,          -- ACTIVE / COMPLETED / INCOMPLETE
        end_reason      TEXT NOT NULL DEFAULT '',
        encoding        TEXT NOT NULL,          -- LINEAR16 / MULAW / ALAW
        sample_rate_hz  INTEGER NOT NULL,
        channel_count   INTEGER NOT NULL,
        roles           TEXT NOT NULL,          -- JSON list of role names, one per channel
        language        TEXT NOT NULL,
        metadata        TEXT NOT NULL,          -- JSON object
        audio_bytes     INTEGER NOT NULL DEFAULT 0,
        utterances_shed INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX calls_by_start ON calls (started_at DESC, call_id DESC);
    CREATE TABLE segments (
        id                   INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id              TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
        channel              INTEGER NOT NULL,
        start_s              REAL NOT NULL,
        end_s                REAL NOT NULL,
        text                 TEXT NOT NULL,
        language             TEXT NOT NULL,
        language_probability REAL NOT NULL,
        avg_logprob          REAL NOT NULL,
        words                TEXT NOT NULL     -- JSON list of [start_s, end_s, text, probability]
    );
    CREATE INDEX segments_by_call ON segments (call_id, start_s);
    """,
    """
    CREATE TABLE emotions (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id   TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
        channel   INTEGER NOT NULL,
        start_s   REAL NOT NULL,
        end_s     REAL NOT NULL,
        estimate  TEXT NOT NULL     -- JSON object: the EmotionEstimate fields
    );
    CREATE INDEX emotions_by_call ON emotions (call_id, end_s);
    """,
    """
    CREATE TABLE alerts (
        alert_id   TEXT PRIMARY KEY,
        call_id    TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
        status     TEXT NOT NULL,           -- OPEN / ACKNOWLEDGED
        level      INTEGER NOT NULL,        -- 1 LOW, 2 MEDIUM, 3 HIGH
        reason     TEXT NOT NULL,
        raised_at  REAL NOT NULL,
        version    INTEGER NOT NULL,
        alert      TEXT NOT NULL            -- JSON object: every Alert field
    );
    CREATE INDEX alerts_by_call ON alerts (call_id, raised_at);
    CREATE INDEX alerts_open ON alerts (status, raised_at);
    """,
    """
    ALTER TABLE calls ADD COLUMN peak_anger REAL NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN peak_disappointment REAL NOT NULL DEFAULT 0;
    UPDATE calls SET
        peak_anger = COALESCE((SELECT MAX(json_extract(e.estimate, '$.anger')) FROM emotions e
                               WHERE e.call_id = calls.call_id), 0),
        peak_disappointment = COALESCE((SELECT MAX(json_extract(e.estimate, '$.disappointment')) FROM emotions e
                                        WHERE e.call_id = calls.call_id), 0);
    CREATE INDEX calls_by_peak_anger ON calls (peak_anger DESC, call_id DESC);
    CREATE INDEX alerts_by_reason ON alerts (reason, call_id);
    """,
    """
    CREATE TABLE tokens (
        token_id      TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL,        -- ingest / supervisor / qa / admin
        secret_sha256 TEXT NOT NULL,        -- the token itself is never stored
        created_at    REAL NOT NULL,
        revoked_at    REAL
    );
    CREATE TABLE audit (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        at        REAL NOT NULL,
        who       TEXT NOT NULL,            -- token name (and id)
        role      TEXT NOT NULL,
        action    TEXT NOT NULL,            -- e.g. read, listen, export, acknowledge
        call_id   TEXT NOT NULL,            -- kept after the call is purged: the log outlives the data
        detail    TEXT NOT NULL
    );
    CREATE INDEX audit_by_call ON audit (call_id, at);
    CREATE INDEX audit_by_time ON audit (at)
    """,
]

_ORDER_COLUMN = {CallOrder.NEWEST: "c.started_at", CallOrder.PEAK_ANGER: "c.peak_anger"}


def _like(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (with ESCAPE '\\')."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class SqliteCallStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in script.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {target}")
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise

    def create_call(self, record: CallRecord) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO calls (call_id, started_at, status, encoding, sample_rate_hz, channel_count,"
                    " roles, language, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    ),
                )
            except sqlite3.IntegrityError:
                raise CallExists(f"call {record.call_id} already exists; use a new call_id") from None

    def update_progress(self, call_id: str, *, audio_bytes: int, utterances_shed: int) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE calls SET audio_bytes = ?, utterances_shed = ? WHERE call_id = ?",
                (audio_bytes, utterances_shed, call_id),
            )

    def add_segment(self, call_id: str, channel: int, segment: Segment) -> None:
        words = [[w.start_s, w.end_s, w.text, w.probability] for w in segment.words]
        with self._lock:
            self._db.execute(
                "INSERT INTO segments (call_id, channel, start_s, end_s, text, language, language_probability,"
                " avg_logprob, words) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    call_id,
                    channel,
                    segment.start_s,
                    segment.end_s,
                    segment.text,
                    segment.language,
                    segment.language_probability,
                    segment.avg_logprob,
                    json.dumps(words, ensure_ascii=False),
                ),
            )

    def add_emotion(self, call_id: str, channel: int, estimate: EmotionEstimate) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO emotions (call_id, channel, start_s, end_s, estimate) VALUES (?, ?, ?, ?, ?)",
                (call_id, channel, estimate.start_s, estimate.end_s, json.dumps(dataclasses.asdict(estimate))),
            )
            self._db.execute(
                "UPDATE calls SET peak_anger = MAX(peak_anger, ?), peak_disappointment = MAX(peak_disappointment, ?)"
                " WHERE call_id = ?",
                (estimate.anger, estimate.disappointment, call_id),
            )

    def emotions(self, call_id: str, *, since_s: float | None = None) -> list[tuple[int, EmotionEstimate]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT channel, estimate FROM emotions WHERE call_id = ? AND end_s > ? ORDER BY end_s, channel, id",
                (call_id, -1.0 if since_s is None else since_s),
            ).fetchall()
        return [(r["channel"], EmotionEstimate(**json.loads(r["estimate"]))) for r in rows]

    def save_alert(self, alert: Alert) -> None:
        """Insert or update (only to a newer version: a late writer never rolls an alert back)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO alerts (alert_id, call_id, status, level, reason, raised_at, version, alert)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO UPDATE SET status = excluded.status,"
                " level = excluded.level, version = excluded.version, alert = excluded.alert"
                " WHERE excluded.version > alerts.version",
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
            )

    def get_alert(self, alert_id: str) -> Alert | None:
        with self._lock:
            row = self._db.execute("SELECT alert FROM alerts WHERE alert_id = ?", (alert_id,)).fetchone()
        return None if row is None else alert_from_json(json.loads(row["alert"]))

    def list_alerts(self, *, call_id: str = "", open_only: bool = False) -> list[Alert]:
        where, args = [], []
        if call_id:
            where.append("call_id = ?")
            args.append(call_id)
        if open_only:
            where.append("status = 'OPEN'")
        sql = "SELECT alert FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY raised_at, alert_id", args).fetchall()
        return [alert_from_json(json.loads(r["alert"])) for r in rows]

    def finish_call(
        self, call_id: str, *, status: CallStatus, end_reason: str, audio_bytes: int, utterances_shed: int
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE calls SET status = ?, end_reason = ?, ended_at = ?, audio_bytes = ?, utterances_shed = ?"
                " WHERE call_id = ?",
                (status.value, end_reason, time.time(), audio_bytes, utterances_shed, call_id),
            )

    _SELECT = (
        "SELECT c.*, (SELECT COUNT(*) FROM segments s WHERE s.call_id = c.call_id) AS segment_count,"
        " (SELECT COALESCE(MAX(a.level), 0) FROM alerts a WHERE a.call_id = c.call_id) AS max_alert_level,"
        " (SELECT COUNT(*) FROM alerts a WHERE a.call_id = c.call_id) AS alert_count,"
        " (SELECT COUNT(*) FROM alerts a WHERE a.call_id = c.call_id AND a.status = 'OPEN') AS open_alert_count,"
        " (SELECT group_concat(DISTINCT a.reason) FROM alerts a WHERE a.call_id = c.call_id) AS alert_reasons"
        " FROM calls c"
    )

    def reopen_call(self, call_id: str, *, audio_bytes: int) -> None:
        """An INCOMPLETE call continues (resume): ACTIVE again, its end cleared."""
        with self._lock:
            self._db.execute(
                "UPDATE calls SET status = 'ACTIVE', end_reason = '', ended_at = NULL, audio_bytes = ?"
                " WHERE call_id = ? AND status = 'INCOMPLETE'",
                (audio_bytes, call_id),
            )

    def get_call(self, call_id: str) -> CallRecord:
        with self._lock:
            row = self._db.execute(f"{self._SELECT} WHERE c.call_id = ?", (call_id,)).fetchone()
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
        sql = self._SELECT + (" WHERE " + " AND ".join(where) if where else "")
        sql += f" ORDER BY {column} DESC, c.call_id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [*args, limit]).fetchall()
        return [_record(r) for r in rows]

    @staticmethod
    def _where(q: CallQuery) -> tuple[list[str], list[object]]:
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
        for key, value in (("agent", q.agent), ("queue", q.queue)):
            if value:
                where.append(f"json_extract(c.metadata, '$.{key}') = ?")
                args.append(value)
        if q.text:
            pattern = _like(q.text.lower())
            where.append(
                "(lower(c.call_id) LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM json_each(c.metadata) m"
                " WHERE lower(m.value) LIKE ? ESCAPE '\\') OR EXISTS"
                " (SELECT 1 FROM segments s WHERE s.call_id = c.call_id AND lower(s.text) LIKE ? ESCAPE '\\'))"
            )
            args += [pattern, pattern, pattern]
        return where, args

    def order_key(self, record: CallRecord, order: CallOrder) -> tuple[float, str]:
        """The (sort value, call id) a page ends on: pass it as `after` for the next page."""
        value = record.started_at if order is CallOrder.NEWEST else record.peak_anger
        return value, record.call_id

    def segments(self, call_id: str) -> list[tuple[int, Segment]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM segments WHERE call_id = ? ORDER BY start_s, channel, id", (call_id,)
            ).fetchall()
        return [(r["channel"], _segment(r)) for r in rows]

    def recover_interrupted(self, audio_sizes: dict[str, int]) -> list[str]:
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT call_id FROM calls WHERE status = 'ACTIVE'")]
            for call_id in ids:
                self._db.execute(
                    "UPDATE calls SET status = 'INCOMPLETE', end_reason = 'server stopped during the call',"
                    " ended_at = COALESCE(ended_at, ?), audio_bytes = ? WHERE call_id = ?",
                    (time.time(), audio_sizes.get(call_id, 0), call_id),
                )
        return ids

    # ---- access tokens ----------------------------------------------------------------------------------
    def add_token(self, record: TokenRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO tokens (token_id, name, role, secret_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                (record.token_id, record.name, record.role.value, record.secret_sha256, record.created_at),
            )

    def get_token(self, token_id: str) -> TokenRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tokens WHERE token_id = ?", (token_id,)).fetchone()
        return None if row is None else _token(row)

    def list_tokens(self) -> list[TokenRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM tokens ORDER BY created_at").fetchall()
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str) -> bool:
        with self._lock:
            cur = self._db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL", (time.time(), token_id)
            )
        return cur.rowcount == 1

    # ---- audit log ----------------------------------------------------------------------------------------
    def add_audit(self, entry: AuditEntry) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at, who, role, action, call_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                (entry.at, entry.who, entry.role, entry.action, entry.call_id, entry.detail),
            )

    def list_audit(self, *, call_id: str = "", limit: int = 1000) -> list[AuditEntry]:
        sql, args = "SELECT * FROM audit", []
        if call_id:
            sql += " WHERE call_id = ?"
            args.append(call_id)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY at DESC, id DESC LIMIT ?", [*args, limit]).fetchall()
        return [AuditEntry(r["at"], r["who"], r["role"], r["action"], r["call_id"], r["detail"]) for r in rows]

    # ---- retention ----------------------------------------------------------------------------------------
    def calls_started_before(self, before: float) -> list[str]:
        """Finished calls (not ACTIVE) that started before `before`: candidates for purging."""
        with self._lock:
            rows = self._db.execute(
                "SELECT call_id FROM calls WHERE started_at < ? AND status != 'ACTIVE' ORDER BY started_at", (before,)
            ).fetchall()
        return [r[0] for r in rows]

    def delete_call(self, call_id: str) -> None:
        """The call and everything stored with it (segments, emotions, alerts cascade)."""
        with self._lock:
            self._db.execute("DELETE FROM calls WHERE call_id = ? AND status != 'ACTIVE'", (call_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record(row: sqlite3.Row) -> CallRecord:
    return CallRecord(
        call_id=row["call_id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        status=CallStatus(row["status"]),
        end_reason=row["end_reason"],
        format=AudioFormat(Encoding(row["encoding"]), row["sample_rate_hz"], row["channel_count"]),
        roles=tuple(Role(r) for r in json.loads(row["roles"])),
        language=row["language"],
        metadata=json.loads(row["metadata"]),
        audio_bytes=row["audio_bytes"],
        segment_count=row["segment_count"],
        utterances_shed=row["utterances_shed"],
        peak_anger=row["peak_anger"],
        peak_disappointment=row["peak_disappointment"],
        max_alert_level=row["max_alert_level"],
        alert_count=row["alert_count"],
        open_alert_count=row["open_alert_count"],
        alert_reasons=tuple(sorted(row["alert_reasons"].split(","))) if row["alert_reasons"] else (),
    )


def _token(row: sqlite3.Row) -> TokenRecord:
    return TokenRecord(
        row["token_id"],
        row["name"],
        AccessRole(row["role"]),
        row["secret_sha256"],
        row["created_at"],
        row["revoked_at"],
    )


def _segment(row: sqlite3.Row) -> Segment:
    return Segment(
        start_s=row["start_s"],
        end_s=row["end_s"],
        text=row["text"],
        language=row["language"],
        language_probability=row["language_probability"],
        avg_logprob=row["avg_logprob"],
        words=tuple(Word(*w) for w in json.loads(row["words"])),
    )
