"""Instance leases: each instance renews its lease in the shared database; calls of an instance whose lease
ran out (it crashed, or lost the database) are marked INCOMPLETE by the others, so a gateway can resume them
on any instance instead of waiting for the crashed one to come back."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from service.storage import AudioStore, CallStore

log = logging.getLogger(__name__)


class InstanceLease:
    """Renews this instance's lease and recovers other instances' abandoned calls, on a daemon thread."""

    def __init__(
        self, store: CallStore, audio: AudioStore, *, lease_s: float, on_tick: Callable[[], object] | None = None
    ) -> None:
        """`on_tick`: more housekeeping to run on the same beat (storing alerts a database fault held back)."""
        self._store, self._audio = store, audio
        self._on_tick = on_tick
        self._lease_s = lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)

    def start(self) -> None:
        self._store.heartbeat()  # before taking calls: a start-up that cannot reach the database fails here
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._lease_s / 6):
            try:
                self._store.heartbeat()
                recovered = self._store.recover_abandoned(self._lease_s, self._audio.size)
                if recovered:
                    log.warning("marked %d call(s) of an instance gone silent INCOMPLETE: %s", len(recovered),
                                ", ".join(recovered))  # fmt: skip
            except Exception:
                log.exception("lease: could not renew; will retry")
            if self._on_tick is not None:
                try:
                    self._on_tick()
                except Exception:
                    log.exception("lease: housekeeping failed; will retry")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
