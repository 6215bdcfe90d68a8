"""Retention: calls older than the configured number of days are purged, audio and rows, on a schedule and
by `callguard purge`. Calls still in progress are never touched; the audit log is kept."""

from __future__ import annotations

import logging
import threading
import time

from service.errors import CallNotFound
from service.storage.audio_files import AudioStore
from service.storage.base import CallStore

log = logging.getLogger(__name__)
DAY_S = 86400.0


def purge(store: CallStore, audio: AudioStore, *, older_than_days: float, now: float | None = None) -> list[str]:
    """Delete finished calls that started more than `older_than_days` ago; returns their ids.

    Rows go first, then audio, so a crash in between leaves only an orphan audio file, which the next run
    removes (audio files with no call row, last written before the cutoff)."""
    if older_than_days <= 0:
        raise ValueError("older_than_days must be > 0")
    cutoff = (time.time() if now is None else now) - older_than_days * DAY_S
    purged = []
    for call_id in store.calls_started_before(cutoff):
        if store.delete_call(call_id):  # False: resumed since it was listed; its audio is in use again
            audio.delete(call_id)
            purged.append(call_id)
    for call_id in audio.modified_before(cutoff):
        try:
            store.get_call(call_id)
        except CallNotFound:  # an orphan left by an interrupted purge (any other error: keep the audio)
            audio.delete(call_id)
    if purged:
        log.info("retention: purged %d call(s) older than %g days", len(purged), older_than_days)
    return purged


class RetentionScheduler:
    """Runs `purge` every `interval_s` on a daemon thread until stopped."""

    def __init__(self, store: CallStore, audio: AudioStore, *, days: float, interval_s: float) -> None:
        self._args = (store, audio)
        self._days, self._interval_s = days, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                purge(*self._args, older_than_days=self._days)
            except Exception:
                log.exception("retention: purge failed; will retry")
            self._stop.wait(self._interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
