"""CallStore on PostgreSQL (psycopg 3, a connection pool) for several service instances sharing one database.
Selected by CALLGUARD_DATABASE_URL=postgresql://...; the queries are the SQLite store's (sql_store.py).

Migrations are numbered like SQLite's and applied under an advisory lock, so instances starting together
migrate once. Times are DOUBLE PRECISION (unix seconds need more than REAL's 24 bits)."""

from __future__ import annotations

import re

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from service.errors import StorageUnavailable
from service.storage.sql_store import Dialect, Fetched, SqlCallStore, statements

POSTGRES = Dialect(
    json_field="({col}::jsonb ->> '{key}')",
    json_values="jsonb_each_text({col}::jsonb) m",
    string_agg="string_agg(DISTINCT {col}, ',')",
    greatest="GREATEST({a}, {b})",
    now_s="EXTRACT(EPOCH FROM clock_timestamp())::DOUBLE PRECISION",
)
_MIGRATION_LOCK = 0x63A11A7D  # pg_advisory_xact_lock key: one migrator at a time

MIGRATIONS: list[str] = [
    """
    CREATE TABLE calls (
        call_id             TEXT PRIMARY KEY,
        started_at          DOUBLE PRECISION NOT NULL,
        ended_at            DOUBLE PRECISION,
        status              TEXT NOT NULL,
        end_reason          TEXT NOT NULL DEFAULT '',
        encoding            TEXT NOT NULL,
        sample_rate_hz      INTEGER NOT NULL,
        channel_count       INTEGER NOT NULL,
        roles               TEXT NOT NULL,
        language            TEXT NOT NULL,
        metadata            TEXT NOT NULL,
        audio_bytes         BIGINT NOT NULL DEFAULT 0,
        utterances_shed     INTEGER NOT NULL DEFAULT 0,
        peak_anger          DOUBLE PRECISION NOT NULL DEFAULT 0,
        peak_disappointment DOUBLE PRECISION NOT NULL DEFAULT 0,
        owner               TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX calls_by_start ON calls (started_at DESC, call_id DESC);
    CREATE INDEX calls_by_peak_anger ON calls (peak_anger DESC, call_id DESC);
    CREATE INDEX calls_by_owner ON calls (status, owner);
    CREATE TABLE segments (
        id                   BIGSERIAL PRIMARY KEY,
        call_id              TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
        channel              INTEGER NOT NULL,
        start_s              DOUBLE PRECISION NOT NULL,
        end_s                DOUBLE PRECISION NOT NULL,
        text                 TEXT NOT NULL,
        language             TEXT NOT NULL,
        language_probability DOUBLE PRECISION NOT NULL,
        avg_logprob          DOUBLE PRECISION NOT NULL,
        words                TEXT NOT NULL
    );
    CREATE INDEX segments_by_call ON segments (call_id, start_s);
    CREATE TABLE emotions (
        id       BIGSERIAL PRIMARY KEY,
        call_id  TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
        channel  INTEGER NOT NULL,
        start_s  DOUBLE PRECISION NOT NULL,
        end_s    DOUBLE PRECISION NOT NULL,
        estimate TEXT NOT NULL
    );
    CREATE INDEX emotions_by_call ON emotions (call_id, end_s);
    CREATE TABLE alerts (
        alert_id  TEXT PRIMARY KEY,
        call_id   TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
        status    TEXT NOT NULL,
        level     INTEGER NOT NULL,
        reason    TEXT NOT NULL,
        raised_at DOUBLE PRECISION NOT NULL,
        version   INTEGER NOT NULL,
        alert     TEXT NOT NULL
    );
    CREATE INDEX alerts_by_call ON alerts (call_id, raised_at);
    CREATE INDEX alerts_open ON alerts (status, raised_at);
    CREATE INDEX alerts_by_reason ON alerts (reason, call_id);
    CREATE TABLE tokens (
        token_id      TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL,
        secret_sha256 TEXT NOT NULL,
        created_at    DOUBLE PRECISION NOT NULL,
        revoked_at    DOUBLE PRECISION
    );
    CREATE TABLE audit (
        id      BIGSERIAL PRIMARY KEY,
        at      DOUBLE PRECISION NOT NULL,
        who     TEXT NOT NULL,
        role    TEXT NOT NULL,
        action  TEXT NOT NULL,
        call_id TEXT NOT NULL,
        detail  TEXT NOT NULL
    );
    CREATE INDEX audit_by_call ON audit (call_id, at);
    CREATE INDEX audit_by_time ON audit (at)
    """,
    """
    CREATE TABLE instances (
        instance_id  TEXT PRIMARY KEY,
        heartbeat_at DOUBLE PRECISION NOT NULL
    )
    """,
    """
    ALTER TABLE calls ADD COLUMN segments_dropped INTEGER NOT NULL DEFAULT 0
    """,
    """
    ALTER TABLE calls ADD COLUMN dynamics TEXT NOT NULL DEFAULT '';
    ALTER TABLE calls ADD COLUMN customer_talk_share DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN agent_talk_share DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN overtalk_s DOUBLE PRECISION NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE calls ADD COLUMN longest_silence_s DOUBLE PRECISION NOT NULL DEFAULT 0
    """,
    """
    CREATE TABLE judgements (
        id        BIGSERIAL PRIMARY KEY,
        call_id   TEXT NOT NULL REFERENCES calls (call_id) ON DELETE CASCADE,
        channel   INTEGER NOT NULL,
        start_s   DOUBLE PRECISION NOT NULL,
        end_s     DOUBLE PRECISION NOT NULL,
        judgement TEXT NOT NULL
    );
    CREATE INDEX judgements_by_call ON judgements (call_id, end_s)
    """,
]


def _placeholders(sql: str) -> str:
    """The shared queries use `?`; psycopg wants `%s` (and literal `%` doubled)."""
    return re.sub(r"\?", "%s", sql.replace("%", "%%"))


class PostgresCallStore(SqlCallStore):
    dialect = POSTGRES
    _integrity_error = psycopg.IntegrityError

    def __init__(self, url: str, *, owner: str = "", pool_size: int = 8) -> None:
        self.owner = owner
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=False,
            name="callguard",
            timeout=5.0,  # waiting for a connection (e.g. the server is down): then StorageUnavailable
        )
        try:
            self._pool.open(wait=True, timeout=15)
        except psycopg.pool.PoolTimeout as exc:  # type: ignore[attr-defined]
            raise OSError(f"cannot connect to PostgreSQL at {_safe(url)}: is it running and reachable?") from exc
        self._migrate()

    def _run(self, sql: str, args: tuple | list = ()) -> Fetched:
        try:
            with self._pool.connection() as conn:
                cursor = conn.execute(_placeholders(sql), list(args))
                return Fetched(cursor.fetchall() if cursor.description else [], cursor.rowcount)
        except psycopg.OperationalError as exc:  # server down or unreachable, pool exhausted past its timeout
            raise StorageUnavailable(f"PostgreSQL is unavailable ({exc}); retry in a few seconds") from exc

    @property
    def schema_version(self) -> int:
        row = self._run("SELECT MAX(version) AS v FROM schema_version").fetchone()
        return int(row["v"] or 0)

    def _migrate(self) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_MIGRATION_LOCK])
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            version = conn.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version").fetchone()["v"]
            for target, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in statements(script):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [target])

    def close(self) -> None:
        self._pool.close()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
