"""A bounded pool of transcription workers shared by all calls.

Final utterances queue up to `queue_size`; past that they are shed (the caller counts and reports it), so a
backlog can never grow without bound or delay every call by minutes. Interim jobs queue behind every final
job and are only submitted when the pool is idle.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_FINAL, _INTERIM = 0, 1
_STOP = (99, 0, None)


@dataclass
class Job:
    """Work for a transcription worker. `run` does the work and delivers the result itself."""

    run: Callable[[], None]
    interim: bool = False
    enqueued_at: float = field(default_factory=time.monotonic)


@dataclass
class PoolStats:
    submitted: int = 0
    shed: int = 0
    completed: int = 0
    failed: int = 0
    max_wait_s: float = 0.0


class TranscriptionPool:
    def __init__(self, *, workers: int, queue_size: int) -> None:
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._queue_size = queue_size
        self._finals_waiting = 0
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._seq = itertools.count()
        self.stats = PoolStats()
        self._threads = [
            threading.Thread(target=self._work, name=f"transcribe-{i}", daemon=True) for i in range(workers)
        ]
        self._busy = 0
        for t in self._threads:
            t.start()

    @property
    def waiting(self) -> int:
        """Final jobs queued and not started yet."""
        with self._lock:
            return self._finals_waiting

    @property
    def idle(self) -> bool:
        """No final job waiting and at least one worker free."""
        with self._lock:
            return self._finals_waiting == 0 and self._busy < len(self._threads)

    def submit(self, job: Job, *, wait: bool = False) -> bool:
        """Queue a job. Returns False, without queuing, when a final job would exceed the bound; with `wait`
        (offline analysis, where nothing is live) it waits for room instead."""
        with self._room:
            if not job.interim:
                while wait and self._finals_waiting >= self._queue_size:
                    self._room.wait(timeout=1.0)
                if self._finals_waiting >= self._queue_size:
                    self.stats.shed += 1
                    return False
                self._finals_waiting += 1
            self.stats.submitted += 1
        self._queue.put((_INTERIM if job.interim else _FINAL, next(self._seq), job))
        return True

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(_STOP)
        for t in self._threads:
            t.join(timeout=30)

    def _work(self) -> None:
        while True:
            _prio, _seq, job = self._queue.get()
            if job is None:
                return
            with self._room:
                if not job.interim:
                    self._finals_waiting -= 1
                    self._room.notify()
                self._busy += 1
                self.stats.max_wait_s = max(self.stats.max_wait_s, time.monotonic() - job.enqueued_at)
            try:
                job.run()
                self.stats.completed += 1
            except Exception:  # a bad utterance must not kill the worker that serves every call
                self.stats.failed += 1
                log.exception("transcription job failed")
            finally:
                with self._lock:
                    self._busy -= 1
