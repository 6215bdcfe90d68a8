"""Where calls live: call rows and transcripts (CallStore) and the audio as received (AudioStore)."""

from service.storage.audio_files import AudioStore, AudioWriter, FileAudioStore
from service.storage.base import CallStore
from service.storage.sqlite_store import SqliteCallStore

__all__ = ["AudioStore", "AudioWriter", "CallStore", "FileAudioStore", "SqliteCallStore"]
