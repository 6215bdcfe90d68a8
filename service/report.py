"""Events as plain dictionaries for JSON output (`analyze --json`): type, channel, role, start_s, end_s, fields."""

from __future__ import annotations

import dataclasses
from typing import Any

from service import events as ev
from service.dynamics.conversation import to_dict
from service.escalation.alerts import Alert, alert_to_json
from service.judgement.codec import judgement_to_json


def alert_dict(a: Alert) -> dict[str, Any]:
    """An alert as JSON: every Alert field, level and role as names, `reasons` as a list."""
    d = alert_to_json(a)
    d.pop("reason")
    return {**d, "role": a.role.value.lower(), "reasons": a.reasons}


def event_dict(e: ev.Event) -> dict[str, Any] | None:
    """The JSON form of a session event; None for bookkeeping events (accepted, progress)."""
    if isinstance(e, ev.EmotionUpdate):
        fields = dataclasses.asdict(e.estimate)
        return {"type": "emotion", "channel": e.channel, "role": e.role.value.lower(), **fields}
    if isinstance(e, ev.FinalTranscript):
        s = e.segment
        return {
            "type": "transcript",
            "channel": e.channel,
            "role": e.role.value.lower(),
            "start_s": s.start_s,
            "end_s": s.end_s,
            "text": s.text,
            "language": s.language,
            "words": [dataclasses.asdict(w) for w in s.words],
        }
    if isinstance(e, ev.UtteranceEmotion):
        return {
            "type": "utterance",
            "channel": e.channel,
            "role": e.role.value.lower(),
            **judgement_to_json(e.judgement),
        }
    if isinstance(e, ev.Escalation):
        return {"type": "escalation", **alert_dict(e.alert)}
    if isinstance(e, ev.ConversationDynamics):
        d = to_dict(e.dynamics)
        return {"type": "dynamics", "channel": -1, "role": None, "start_s": 0.0, "end_s": d.pop("duration_s"), **d}
    if isinstance(e, ev.Notice):
        return {
            "type": "notice",
            "channel": e.channel,
            "role": None,
            "start_s": e.start_s,
            "end_s": e.end_s,
            "code": e.code.value,
            "message": e.message,
        }
    return None
