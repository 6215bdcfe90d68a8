"""Alert fan-out: one small publish/subscribe interface, an in-process implementation, and the hub that
stores every alert before it is published.

`AlertBus` is all a Redis or NATS backend would have to implement. Subscribers get bounded queues: a
subscriber that stops reading is cut off (and told so) instead of holding memory or slowing anyone else;
on resubscribing it first receives the alerts still open, so nothing open is missed.
"""

from __future__ import annotations

import copy
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

from service.errors import CallguardError, StorageUnavailable
from service.escalation.alerts import Alert, AlertFilter, AlertStatus

log = logging.getLogger(__name__)


class AlertNotFound(CallguardError):
    """No alert with this id."""


class AlreadyAcknowledged(CallguardError):
    """The alert was acknowledged before."""


class Subscription:
    def __init__(self, alert_filter: AlertFilter, max_queue: int) -> None:
        self.filter = alert_filter
        self._queue: queue.Queue[Alert] = queue.Queue(maxsize=max_queue)
        self.overflowed = False

    def offer(self, alert: Alert) -> None:
        if self.overflowed or not self.filter.matches(alert):
            return
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.overflowed = True

    def get(self, timeout_s: float) -> Alert | None:
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None


class AlertBus(Protocol):
    def publish(self, alert: Alert) -> None: ...
    def subscribe(self, alert_filter: AlertFilter) -> Subscription: ...
    def unsubscribe(self, subscription: Subscription) -> None: ...
    def add_listener(self, listener: Callable[[Alert], None]) -> None:
        """`listener(alert)` for every alert published by any instance (the hub keeps its live copies current)."""


class InProcessBus:
    """The embedded default: subscribers in this process."""

    def __init__(self, max_queue: int = 1000) -> None:
        self._subs: set[Subscription] = set()
        self._listeners: list[Callable[[Alert], None]] = []
        self._lock = threading.Lock()
        self._max_queue = max_queue

    def publish(self, alert: Alert) -> None:
        with self._lock:
            subs, listeners = list(self._subs), list(self._listeners)
        for listener in listeners:
            listener(alert)
        for sub in subs:
            sub.offer(alert)

    def add_listener(self, listener: Callable[[Alert], None]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def subscribe(self, alert_filter: AlertFilter) -> Subscription:
        sub = Subscription(alert_filter, self._max_queue)
        with self._lock:
            self._subs.add(sub)
        return sub

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subs.discard(subscription)


class AlertStore(Protocol):
    def save_alert(self, alert: Alert) -> bool: ...
    def get_alert(self, alert_id: str) -> Alert | None: ...
    def list_alerts(self, *, call_id: str = "", open_only: bool = False) -> list[Alert]: ...


def _take_acknowledgement(live: Alert, acked: Alert) -> None:
    live.status = acked.status
    live.version = max(live.version, acked.version)
    live.acknowledged_by, live.acknowledgement_note = acked.acknowledged_by, acked.acknowledgement_note
    live.acknowledged_at, live.updated_at = acked.acknowledged_at, acked.updated_at


class AlertHub:
    """Stores, then publishes (a stored alert survives a restart even if no one was listening), and
    applies acknowledgements to both the store and the live call that owns the alert.

    A raised alert reaches supervisors even when the database cannot store it (locked, down, disk full):
    it is published anyway and kept until it can be stored (store_unsaved, every few seconds). An
    acknowledgement the database refuses changes nothing and the caller is told to retry, so memory and
    storage never disagree about who acknowledged what."""

    def __init__(self, store: AlertStore, bus: AlertBus) -> None:
        self._store = store
        self._bus = bus
        self._live: dict[str, Alert] = {}  # alerts of calls in progress, shared with their detectors
        self._unsaved: dict[str, Alert] = {}  # published, not yet stored (a database fault): stored later
        self._lock = threading.Lock()
        bus.add_listener(self._on_published)

    def _on_published(self, alert: Alert) -> None:
        """An alert acknowledged on another instance: apply it to the live copy the call's detector holds, so
        a later upgrade here does not reopen it (whatever the versions: this instance may have upgraded the
        alert to the same version meanwhile)."""
        with self._lock:
            live = self._live.get(alert.alert_id)
            if live is not None and alert.status is AlertStatus.ACKNOWLEDGED and live.is_open:
                _take_acknowledgement(live, alert)

    def publish(self, alert: Alert) -> None:
        with self._lock:
            self._live[alert.alert_id] = alert
            snapshot = copy.copy(alert)
        stored: bool | None = None
        try:
            stored = self._store_or_keep(snapshot)
        finally:
            if stored is not False:  # False: the stored alert is newer or acknowledged; this copy is stale
                self._bus.publish(snapshot)  # supervisors hear it whether or not the database took it
        log.info(
            "alert %s call %s ch %d %s %s: %s",
            alert.alert_id,
            alert.call_id,
            alert.channel,
            alert.level.name,
            alert.reason,
            alert.evidence,
        )

    def _store_or_keep(self, snapshot: Alert) -> bool:
        """Store `snapshot` (True if written); if the database is unavailable, keep it for store_unsaved and
        raise. Any other error (a bug, a call purged meanwhile) is not retried."""
        try:
            stored = self._store.save_alert(snapshot)
        except StorageUnavailable:
            with self._lock:
                kept = self._unsaved.get(snapshot.alert_id)
                if kept is None or kept.version <= snapshot.version:
                    self._unsaved[snapshot.alert_id] = snapshot
            raise
        with self._lock:
            self._drop_unsaved(snapshot)
        return stored

    def _drop_unsaved(self, stored: Alert) -> None:
        """`stored` is in the database: a kept copy of it that is no newer need not be stored. Under the lock."""
        kept = self._unsaved.get(stored.alert_id)
        if kept is not None and kept.version <= stored.version:
            del self._unsaved[stored.alert_id]

    def store_unsaved(self) -> int:
        """Store the alerts a database fault left unstored (called every few seconds by the instance's lease
        thread, at each call's end and at shutdown); returns how many are still waiting."""
        with self._lock:
            pending = list(self._unsaved.values())
        for alert in pending:
            try:
                self._store_or_keep(alert)
            except StorageUnavailable:
                break  # still unavailable: next time
            except Exception:
                log.exception("alert %s of call %s cannot be stored; dropped", alert.alert_id, alert.call_id)
                with self._lock:
                    if self._unsaved.get(alert.alert_id) is alert:
                        del self._unsaved[alert.alert_id]
        left = self.unsaved()
        if left:
            log.warning("%d alert(s) wait for the database to be stored", left)
        return left

    def unsaved(self) -> int:
        """Alerts published but not yet stored."""
        with self._lock:
            return len(self._unsaved)

    def forget_call(self, call_id: str) -> None:
        """The call ended: its alerts are no longer live; try again to store what a fault left unstored."""
        with self._lock:
            for key in [k for k, a in self._live.items() if a.call_id == call_id]:
                del self._live[key]
        if self.unsaved():
            self.store_unsaved()

    def acknowledge(self, alert_id: str, by: str, note: str) -> Alert:
        """Stored first (a refusal changes nothing), then applied to the live copy and published. No lock is
        held while the database works (analysis threads publish through the same lock); if an upgrade, here
        or on another instance, stored a newer version meanwhile, the acknowledgement is made on that one."""
        fresh = False
        for _ in range(5):
            with self._lock:
                held = None if fresh else self._live.get(alert_id) or self._unsaved.get(alert_id)
                alert = copy.copy(held) if held is not None else None
            alert = alert or self._store.get_alert(alert_id)
            if alert is None:
                raise AlertNotFound(f"no alert {alert_id!r}")
            if alert.status is AlertStatus.ACKNOWLEDGED:
                raise AlreadyAcknowledged(
                    f"alert {alert_id} was already acknowledged by {alert.acknowledged_by or 'someone'}"
                )
            acked = copy.copy(alert)
            acked.status = AlertStatus.ACKNOWLEDGED
            acked.acknowledged_by, acked.acknowledgement_note = by, note
            acked.acknowledged_at = acked.updated_at = time.time()
            acked.version = alert.version + 1
            if self._store.save_alert(acked):
                break
            fresh = True  # the stored alert is newer: read it again
        else:
            raise StorageUnavailable(f"alert {alert_id} kept changing while it was acknowledged; retry")
        with self._lock:
            live = self._live.get(alert_id)
            if live is not None and live.is_open:
                _take_acknowledgement(live, acked)
            self._drop_unsaved(acked)  # the acknowledged version is stored: a kept open one is obsolete
        self._bus.publish(acked)
        return acked

    def subscribe(self, alert_filter: AlertFilter) -> tuple[Subscription, list[Alert]]:
        """Subscribe first, then read the open alerts, so none falls between the two (raises
        StorageUnavailable, subscribed to nothing, if they cannot be read)."""
        sub = self._bus.subscribe(alert_filter)
        try:
            stored = self._store.list_alerts(open_only=True)
        except BaseException:
            self._bus.unsubscribe(sub)
            raise
        with self._lock:  # published while the database could not store them: open all the same
            waiting = [copy.copy(a) for a in self._unsaved.values() if a.is_open]
        seen = {a.alert_id for a in stored}
        open_alerts = [a for a in stored + [w for w in waiting if w.alert_id not in seen] if alert_filter.matches(a)]
        return sub, open_alerts

    def unsubscribe(self, sub: Subscription) -> None:
        self._bus.unsubscribe(sub)
