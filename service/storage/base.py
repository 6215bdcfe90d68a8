"""The storage interface the service codes against, so another engine (PostgreSQL) can replace SQLite."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from service.auth import TokenRecord
from service.domain import AuditEntry, CallOrder, CallQuery, CallRecord, CallStatus
from service.dynamics.conversation import Dynamics
from service.emotion import EmotionEstimate
from service.escalation.alerts import Alert
from service.judgement.results import UtteranceJudgement
from service.transcription.results import Segment


class CallStore(Protocol):
    def create_call(self, record: CallRecord) -> None:
        """Store a new ACTIVE call; raises CallExists if the id is taken."""

    def update_progress(
        self, call_id: str, *, audio_bytes: int, utterances_shed: int, segments_dropped: int = 0
    ) -> None: ...

    def add_segment(self, call_id: str, channel: int, segment: Segment) -> None: ...

    def add_emotion(self, call_id: str, channel: int, estimate: EmotionEstimate) -> None: ...

    def add_judgement(self, call_id: str, channel: int, judgement: UtteranceJudgement) -> None: ...

    def judgements(self, call_id: str) -> list[tuple[int, UtteranceJudgement]]:
        """(channel, utterance judgement) in call-time order (of their ends)."""

    def save_dynamics(self, call_id: str, dynamics: Dynamics) -> None: ...

    def emotions(self, call_id: str, *, since_s: float | None = None) -> list[tuple[int, EmotionEstimate]]:
        """(channel, estimate) in call-time order; with `since_s`, only estimates ending after that call time."""

    def finish_call(
        self,
        call_id: str,
        *,
        status: CallStatus,
        end_reason: str,
        audio_bytes: int,
        utterances_shed: int,
        segments_dropped: int = 0,
    ) -> None: ...

    def reopen_call(self, call_id: str, *, audio_bytes: int) -> bool:
        """An INCOMPLETE call streams again (resume): ACTIVE, owned here, its end cleared; False if it was not
        INCOMPLETE (another stream resumed it first)."""

    def get_call(self, call_id: str) -> CallRecord:
        """Raises CallNotFound."""

    def list_calls(
        self, *, limit: int, after: tuple[float, str] | None = None, query: CallQuery | None = None
    ) -> list[CallRecord]:
        """The calls matching `query` (None: all, newest first) in its order; `after` = order_key() of the last call of the previous page."""

    def order_key(self, record: CallRecord, order: CallOrder) -> tuple[float, str]: ...

    def segments(self, call_id: str) -> list[tuple[int, Segment]]:
        """(channel, segment) in call-time order."""

    def recover_interrupted(self, audio_sizes: dict[str, int]) -> list[str]:
        """Mark calls left ACTIVE by a crash INCOMPLETE, with their stored audio size; returns their ids."""

    def heartbeat(self, now: float | None = None) -> None:
        """Renew this instance's lease."""

    def recover_abandoned(
        self, lease_s: float, audio_size: Callable[[str], int], *, call_id: str | None = None
    ) -> list[str]:
        """Mark calls of instances whose lease ran out INCOMPLETE; returns their ids."""

    def save_alert(self, alert: Alert) -> bool:
        """Insert or update an alert; an older version never overwrites a newer one."""

    def get_alert(self, alert_id: str) -> Alert | None: ...

    def list_alerts(self, *, call_id: str = "", open_only: bool = False) -> list[Alert]: ...

    # access tokens (service/auth.py), the audit log, retention
    def add_token(self, record: TokenRecord) -> None: ...
    def get_token(self, token_id: str) -> TokenRecord | None: ...
    def list_tokens(self) -> list[TokenRecord]: ...
    def revoke_token(self, token_id: str) -> bool: ...
    def add_audit(self, entry: AuditEntry) -> None: ...
    def list_audit(self, *, call_id: str = "", limit: int = 1000) -> list[AuditEntry]: ...
    def calls_started_before(self, before: float) -> list[str]: ...
    def delete_call(self, call_id: str) -> bool: ...

    def close(self) -> None: ...
