"""Where calls live: call rows and transcripts (CallStore) and the audio as received (AudioStore)."""

from service.storage.audio_files import AudioStore, AudioWriter, FileAudioStore
from service.storage.base import CallStore
from service.storage.sqlite_store import SqliteCallStore

__all__ = ["AudioStore", "AudioWriter", "CallStore", "FileAudioStore", "SqliteCallStore", "open_store"]


def open_store(settings) -> CallStore:  # type: ignore[no-untyped-def]
    """The configured engine: PostgreSQL when database_url is set, else SQLite in the data directory."""
    if settings.database_url:
        from service.storage.postgres_store import PostgresCallStore

        return PostgresCallStore(settings.database_url, owner=settings.effective_instance_id)
    return SqliteCallStore(settings.db_path, owner=settings.effective_instance_id)
