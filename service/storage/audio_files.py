"""Call audio on disk, exactly as received: one file per call, appended frame by frame.

Bytes are handed to the OS as each frame arrives (so a crash of the process loses nothing) and fsync'd
before the service acknowledges them (AudioProgress), so an acknowledged byte survives a power cut.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from service.domain import check_call_id
from service.errors import CallNotFound


class AudioWriter(Protocol):
    def write(self, data: bytes) -> None: ...
    def sync(self) -> int:
        """Make everything written durable; returns the bytes stored."""

    def close(self) -> int: ...


class AudioStore(Protocol):
    def open_writer(self, call_id: str) -> AudioWriter: ...
    def size(self, call_id: str) -> int: ...
    def read(self, call_id: str, *, chunk_bytes: int, offset: int = 0, limit: int | None = None) -> Iterator[bytes]:
        """Stored bytes from `offset`, at most `limit` of them (None: to the end), in chunks."""

    def sizes(self) -> dict[str, int]: ...
    def delete(self, call_id: str) -> None: ...
    def truncate_to_frames(self, call_id: str, frame_bytes: int) -> int:
        """Cut a partial sample frame off the end (left by a crash mid-write); returns the size kept."""

    def modified_before(self, before: float) -> list[str]:
        """Call ids whose audio was last written before `before` (unix seconds)."""


class _FileWriter:
    def __init__(self, path: Path) -> None:
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 - lives as long as the call
        self._size = self._file.tell()

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._size += len(data)

    def sync(self) -> int:
        os.fsync(self._file.fileno())
        return self._size

    def close(self) -> int:
        if not self._file.closed:
            self.sync()
            self._file.close()
        return self._size


class FileAudioStore:
    """Audio files under one directory, named by call id (ids are validated: no path traversal)."""

    def __init__(self, root: Path) -> None:
        self._root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, call_id: str) -> Path:
        return self._root / f"{check_call_id(call_id)}.raw"

    def open_writer(self, call_id: str) -> AudioWriter:
        return _FileWriter(self._path(call_id))

    def size(self, call_id: str) -> int:
        try:
            return self._path(call_id).stat().st_size
        except FileNotFoundError:
            return 0

    def read(self, call_id: str, *, chunk_bytes: int, offset: int = 0, limit: int | None = None) -> Iterator[bytes]:
        path = self._path(call_id)
        if not path.exists():
            raise CallNotFound(f"no audio stored for call {call_id}")
        remaining = max(0, path.stat().st_size - offset) if limit is None else limit
        with open(path, "rb") as f:
            f.seek(offset)
            while remaining > 0:
                chunk = f.read(min(chunk_bytes, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    def sizes(self) -> dict[str, int]:
        return {p.stem: p.stat().st_size for p in self._root.glob("*.raw")}

    def delete(self, call_id: str) -> None:
        self._path(call_id).unlink(missing_ok=True)

    def truncate_to_frames(self, call_id: str, frame_bytes: int) -> int:
        path = self._path(call_id)
        size = path.stat().st_size if path.exists() else 0
        whole = size - size % frame_bytes
        if whole != size:
            os.truncate(path, whole)
        return whole

    def modified_before(self, before: float) -> list[str]:
        return [p.stem for p in self._root.glob("*.raw") if p.stat().st_mtime < before]
