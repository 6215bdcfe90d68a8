"""Alert fan-out across service instances through a Redis stream (CALLGUARD_PUBSUB_URL=redis://...).

Every instance appends the alerts it raises or changes to one stream and reads the stream on a thread,
handing each alert to its own subscribers. A stream rather than pub/sub: the reader remembers the last
entry it saw, so after a dropped Redis connection it carries on from there and misses nothing (the stream
keeps the last `max_len` alerts)."""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
from collections.abc import Callable

import redis

from service.escalation.alerts import Alert, AlertFilter, alert_from_json, alert_to_json
from service.escalation.bus import InProcessBus, Subscription

log = logging.getLogger(__name__)
STREAM = "callguard:alerts"


class RedisBus:
    def __init__(self, url: str, *, stream: str = STREAM, max_len: int = 100_000, max_queue: int = 1000) -> None:
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        try:
            self._redis.ping()
        except redis.RedisError as exc:
            raise OSError(f"cannot reach Redis at {url.split('@')[-1]}: {exc}; is it running?") from exc
        self._stream, self._max_len = stream, max_len
        self._local = InProcessBus(max_queue)
        newest = self._redis.xrevrange(stream, count=1)
        self._last_id = newest[0][0] if newest else b"0-0"  # alerts from before this instance started: in the store
        self._pending: collections.deque[str] = collections.deque(maxlen=max_len)
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="redis-alerts", daemon=True)
        self._thread.start()

    def publish(self, alert: Alert) -> None:
        """Append to the stream; while Redis is unreachable, deliver to this instance's subscribers at once and
        keep the alert for the other instances until Redis is back (the reader thread retries)."""
        body = json.dumps(alert_to_json(alert), ensure_ascii=False)
        with self._pending_lock:
            if not self._pending:
                try:
                    self._append(body)
                    return
                except redis.RedisError as exc:
                    log.warning(
                        "alert %s: Redis unavailable (%s); other instances get it when it is back", alert.alert_id, exc
                    )
            self._pending.append(body)
        self._local.publish(alert)

    def _append(self, body: str) -> None:
        self._redis.xadd(self._stream, {"alert": body}, maxlen=self._max_len, approximate=True)

    def _flush_pending(self) -> None:
        with self._pending_lock:
            while self._pending:
                self._append(self._pending[0])  # raises while Redis is still away: kept for the next try
                self._pending.popleft()

    def subscribe(self, alert_filter: AlertFilter) -> Subscription:
        return self._local.subscribe(alert_filter)

    def unsubscribe(self, subscription: Subscription) -> None:
        self._local.unsubscribe(subscription)

    def add_listener(self, listener: Callable[[Alert], None]) -> None:
        self._local.add_listener(listener)

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self._flush_pending()
                batches = self._redis.xread({self._stream: self._last_id}, block=500, count=100)
            except redis.RedisError as exc:
                log.warning("alert stream: %s; reconnecting from entry %s", exc, self._last_id)
                time.sleep(1.0)
                continue
            for _stream, entries in batches or ():
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    try:
                        alert = alert_from_json(json.loads(fields[b"alert"]))
                    except (KeyError, ValueError, TypeError):
                        log.error("alert stream: skipping malformed entry %s", entry_id)
                        continue
                    self._local.publish(alert)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._redis.close()
