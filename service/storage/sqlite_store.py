"""CallStore on SQLite (the embedded default): WAL mode, numbered schema migrations, one guarded connection.
The queries are shared with PostgreSQL in sql_store.py."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path

from service.errors import StorageUnavailable
from service.storage.sql_store import Dialect, Fetched, SqlCallStore, statements

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
    """
    ALTER TABLE calls ADD COLUMN owner TEXT NOT NULL DEFAULT '';
    CREATE INDEX calls_by_owner ON calls (status, owner)
    """,
    """
    CREATE TABLE instances (                -- each serving instance's lease: see SqlCallStore.heartbeat
        instance_id  TEXT PRIMARY KEY,
        heartbeat_at REAL NOT NULL
    )
    """,
    """
    ALTER TABLE calls ADD COLUMN segments_dropped INTEGER NOT NULL DEFAULT 0
    """,
    """
    ALTER TABLE calls ADD COLUMN dynamics TEXT NOT NULL DEFAULT '';  -- JSON: service/dynamics/conversation.py
    ALTER TABLE calls ADD COLUMN customer_talk_share REAL NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN agent_talk_share REAL NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN overtalk_s REAL NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN longest_silence_s REAL NOT NULL DEFAULT 0
    """,
    """
    CREATE TABLE judgements (               -- one per utterance: words and voice (service/judgement)
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id   TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
        channel   INTEGER NOT NULL,
        start_s   REAL NOT NULL,
        end_s     REAL NOT NULL,
        judgement TEXT NOT NULL             -- JSON object: service/judgement/codec.py
    );
    CREATE INDEX judgements_by_call ON judgements (call_id, end_s)
    """,
]


SQLITE = Dialect(
    json_field="json_extract({col}, '$.{key}')",
    json_values="json_each({col}) m",
    string_agg="group_concat(DISTINCT {col})",
    greatest="MAX({a}, {b})",
    now_s="((julianday('now') - 2440587.5) * 86400.0)",
)


# OperationalErrors that pass: locked past the busy timeout, disk full, I/O errors, the file gone or read-only
_UNAVAILABLE = re.compile(r"locked|busy|full|disk I/O|unable to open|readonly", re.IGNORECASE)


class SqliteCallStore(SqlCallStore):
    dialect = SQLITE
    _integrity_error = sqlite3.IntegrityError

    def __init__(self, path: Path, *, owner: str = "", busy_timeout_s: float = 10.0) -> None:
        """`busy_timeout_s`: how long a statement waits for another process's lock before it gives up
        (StorageUnavailable: the client is told to retry)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.owner = owner
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_s)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()

    def _run(self, sql: str, args: tuple | list = ()) -> Fetched:
        """One statement on the shared connection (autocommit); rows are fetched under the lock too."""
        with self._lock:
            try:
                cursor = self._db.execute(sql, args)
                return Fetched(cursor.fetchall() if cursor.description else [], cursor.rowcount)
            except sqlite3.OperationalError as exc:
                if not _UNAVAILABLE.search(str(exc)):
                    raise  # a bug or a schema mismatch: not something a retry cures
                raise StorageUnavailable(f"the database is unavailable ({exc}); retry in a few seconds") from exc

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements(script):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {target}")
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
