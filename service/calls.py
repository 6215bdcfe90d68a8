"""CallManager: admits new calls within the configured limit and tracks the sessions in progress."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, datetime

from service.domain import CallSpec
from service.errors import CallExists, Overloaded, ShuttingDown
from service.session import CallSession
from service.session_deps import SessionDeps

log = logging.getLogger(__name__)


def new_call_id() -> str:
    """Sortable and unguessable, e.g. 20261124-093015-9f2c41ab."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


class CallManager:
    def __init__(self, deps: SessionDeps) -> None:
        self.deps = deps
        self._active: dict[str, CallSession | None] = {}  # None: admitted, session being built
        self._lock = threading.Lock()
        self._closing = False

    def start(self, spec: CallSpec) -> CallSession:
        """Admit a call or raise Overloaded / ShuttingDown / CallExists."""
        limit = self.deps.settings.max_concurrent_calls
        with self._lock:
            if self._closing:
                raise ShuttingDown("the server is shutting down; reconnect to another instance or retry shortly")
            if len(self._active) >= limit:
                raise Overloaded(
                    f"the server is at its limit of {limit} concurrent calls; retry in 5 s", retry_after_s=5
                )
            if spec.call_id in self._active:
                raise CallExists(f"call {spec.call_id} is already streaming")
            self._active[spec.call_id] = None  # the slot is taken; the session is built outside the lock
        try:  # a slow or failing database insert here holds up this call only, not every new call
            session = CallSession(spec, self.deps, on_done=self._release)
        except BaseException:
            with self._lock:
                self._active.pop(spec.call_id, None)
            raise
        with self._lock:
            if spec.call_id in self._active:  # (unless it already ended and released its slot)
                self._active[spec.call_id] = session
        return session

    def _release(self, session: CallSession) -> None:
        with self._lock:
            self._active.pop(session.spec.call_id, None)

    def shutdown(self, timeout_s: float) -> None:
        """Refuse new calls and wait (bounded) for the sessions in progress to store everything."""
        with self._lock:
            self._closing = True
        deadline = time.monotonic() + timeout_s
        while True:  # calls admitted a moment ago are still being built: wait for them too
            with self._lock:
                building = None in self._active.values()
                sessions = [s for s in self._active.values() if s is not None]
            if not building or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for session in sessions:
            session.wait_ended(max(0.0, deadline - time.monotonic()))
