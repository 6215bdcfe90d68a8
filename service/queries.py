"""What QA and supervisors read and do, answered once for both front doors.

The gRPC servicer and the web console (`service/web/`) call these methods and get the same protobuf
messages back (the console sends them as JSON), so the two can never disagree about a call.
"""

from __future__ import annotations

import base64
import json
import time

from callguard.v1 import callguard_pb2 as pb

from service import convert
from service.auth import OPEN_ACCESS, Principal
from service.domain import AuditEntry, CallRecord, CallStatus
from service.dynamics.conversation import from_dict
from service.errors import InvalidInput
from service.escalation.alerts import Alert
from service.escalation.coaching import CoachingMoment, coaching_moments
from service.escalation.outcome import Outcome, judge_call
from service.session_deps import SessionDeps

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
MAX_ACK_BY = 200
MAX_ACK_NOTE = 2000


def _encode_page_token(order: int, key: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps([key[0], key[1], order]).encode()).decode()


def _decode_page_token(token: str, order: int) -> tuple[float, str]:
    try:
        parts = json.loads(base64.urlsafe_b64decode(token.encode()))
        value, call_id = float(parts[0]), str(parts[1])
        token_order = int(parts[2]) if len(parts) > 2 else pb.NEWEST
    except Exception:
        raise InvalidInput("page_token is not one this server issued; start again with an empty token") from None
    if token_order != order:
        raise InvalidInput("page_token belongs to a list in another order; start again with an empty token")
    return value, call_id


class Queries:
    def __init__(self, deps: SessionDeps) -> None:
        self._deps = deps

    def list_calls(self, request: pb.ListCallsRequest) -> pb.ListCallsResponse:
        size = request.page_size or DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size {request.page_size} is outside 1-{MAX_PAGE_SIZE}")
        query = convert.call_query(request)
        after = _decode_page_token(request.page_token, request.order) if request.page_token else None
        store = self._deps.store
        records = store.list_calls(limit=size + 1, after=after, query=query)
        page, more = records[:size], len(records) > size
        token = _encode_page_token(request.order, store.order_key(page[-1], query.order)) if more else ""
        return pb.ListCallsResponse(calls=[convert.summary_pb(r) for r in page], next_page_token=token)

    def get_call(self, call_id: str, *, with_emotions: bool = True) -> pb.Call:
        """The stored call; without its emotion estimates when the caller reads them downsampled instead."""
        store = self._deps.store
        record = store.get_call(call_id)
        alerts = store.list_alerts(call_id=call_id)
        emotions, segments, judged = store.emotions(call_id), store.segments(call_id), store.judgements(call_id)
        return convert.call_pb(
            record,
            segments,
            emotions if with_emotions else [],
            alerts,
            self._outcomes(record, alerts, emotions, segments, judged),
            self._coaching(record, emotions),
            judged,
        )

    def _coaching(self, record: CallRecord, emotions: list) -> list[CoachingMoment]:  # type: ignore[type-arg]
        dynamics = from_dict(json.loads(record.dynamics_json)) if record.dynamics_json else None
        return coaching_moments(record.roles, emotions, dynamics, self._deps.policy.current().coaching)

    def _outcomes(
        self,
        record: CallRecord,
        alerts: list[Alert],
        emotions: list,
        segments: list | None,  # type: ignore[type-arg]
        judged: list | None = None,  # type: ignore[type-arg]
    ) -> list[Outcome]:
        """Rate and question alerts are judged on the transcript: segments are read only for calls with one;
        the others on the judged utterances (read only for calls with an alert)."""
        policy = self._deps.policy.current()
        if segments is None:
            spoken = {r.reason for r in (*policy.rate_rules, *policy.question_rules)}
            segments = self._deps.store.segments(record.call_id) if any(a.reason in spoken for a in alerts) else []
        if judged is None:
            judged = self._deps.store.judgements(record.call_id) if alerts else []
        active = record.status is CallStatus.ACTIVE
        return judge_call(alerts, emotions, policy, call_active=active, segments=segments, judgements=judged)

    def analysis(self, call_id: str) -> tuple[list[pb.Alert], list[pb.AlertOutcome], list[pb.CoachingMoment]]:
        """What the analysis table of a call is made of: its alerts (in the order raised), the response outcome
        of each, and its coaching moments; the call, its alerts and its emotions are each read once."""
        store = self._deps.store
        record, alerts = store.get_call(call_id), store.list_alerts(call_id=call_id)
        emotions = store.emotions(call_id)
        return (
            [convert.alert_pb(a) for a in alerts],
            [convert.outcome_pb(o) for o in self._outcomes(record, alerts, emotions, None)],
            [convert.coaching_pb(m, record.roles) for m in self._coaching(record, emotions)],
        )

    def summary(self, call_id: str) -> pb.CallSummary:
        return convert.summary_pb(self._deps.store.get_call(call_id))

    def acknowledge(self, alert_id: str, by: str, note: str, *, who: Principal = OPEN_ACCESS) -> pb.Alert:
        if not alert_id:
            raise InvalidInput("alert_id is required")
        by = by.strip()
        if who.token_id:  # authenticated: the token says who acted; a typed name says which person behind it
            by = who.name if by in ("", who.name) else f"{by} (token {who.name})"
        if not by or len(by) > MAX_ACK_BY or len(note) > MAX_ACK_NOTE:
            raise InvalidInput(
                f"say who acknowledges in `by` (1-{MAX_ACK_BY} characters); `note` is at most {MAX_ACK_NOTE} characters"
            )
        alert = self._deps.alerts.acknowledge(alert_id, by, note)
        self.audit(who, "acknowledge", alert.call_id, f"alert {alert_id} as {by!r}")
        return convert.alert_pb(alert)

    def audit(self, who: Principal, action: str, call_id: str, detail: str = "") -> None:
        """Record who read, played, exported or acknowledged what (kept after the call is purged)."""
        who_text = f"{who.name} ({who.token_id})" if who.token_id else who.name
        self._deps.store.add_audit(AuditEntry(time.time(), who_text, who.role.value, action, call_id, detail))

    def emotions(
        self, call_id: str, *, since_s: float | None = None, summary: pb.CallSummary | None = None
    ) -> list[pb.EmotionUpdate]:
        """A call's estimates; pass its `summary` if you have it, to spare reading the call again."""
        store = self._deps.store
        roles = convert.roles_from_pb(summary.channel_roles) if summary else store.get_call(call_id).roles
        return [convert.emotion_pb(ch, roles[ch], e) for ch, e in store.emotions(call_id, since_s=since_s)]

    def alerts(self, *, call_id: str = "", open_only: bool = False) -> list[pb.Alert]:
        return [convert.alert_pb(a) for a in self._deps.store.list_alerts(call_id=call_id, open_only=open_only)]
