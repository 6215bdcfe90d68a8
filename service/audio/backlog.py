"""The queue between a call's gRPC reader and its analysis thread, bounded in seconds of audio.

A bound in frames would let a gateway's frame size decide how much audio may wait: 2000 frames are 40 s of
20 ms frames but 2 s of 1 ms frames, so a gateway sending tiny frames would see analysis skip audio long
before it is actually behind. Only audio counts against the bound; control items (the end of input) always
get in.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any


class AudioBacklog:
    """FIFO of (item, seconds of audio); `put` refuses (or waits) past `max_s` seconds waiting."""

    def __init__(self, max_s: float) -> None:
        if max_s <= 0:
            raise ValueError(f"max_s must be positive, got {max_s}")
        self.max_s = max_s
        self._items: deque[tuple[Any, float]] = deque()
        self._queued_s = 0.0
        self._cond = threading.Condition()

    @property
    def queued_s(self) -> float:
        """Seconds of audio waiting."""
        with self._cond:
            return self._queued_s

    def put(self, item: Any, audio_s: float, *, block: bool = False) -> bool:
        """Queue `item` holding `audio_s` seconds of audio. Returns False, without queuing, when it would go
        past the bound (an item alone larger than the bound still gets into an empty queue); with `block` it
        waits for room instead."""
        with self._cond:
            while self._items and self._queued_s + audio_s > self.max_s + 1e-9:  # float sums of frame lengths
                if not block:
                    return False
                self._cond.wait()
            self._items.append((item, audio_s))
            self._queued_s += audio_s
            self._cond.notify_all()
            return True

    def put_control(self, item: Any) -> None:
        """Queue an item that carries no audio (never refused)."""
        with self._cond:
            self._items.append((item, 0.0))
            self._cond.notify_all()

    def get(self, timeout_s: float | None = None) -> Any:
        """The oldest item, waiting for one; raises TimeoutError after `timeout_s`."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._items, timeout=timeout_s):
                raise TimeoutError("no item within the timeout")
            return self._pop()

    def get_nowait(self) -> Any | None:
        """The oldest item, or None when the queue is empty."""
        with self._cond:
            return self._pop() if self._items else None

    def _pop(self) -> Any:
        item, audio_s = self._items.popleft()
        self._queued_s = max(0.0, self._queued_s - audio_s)
        self._cond.notify_all()
        return item
