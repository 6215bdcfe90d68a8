"""The Alert record: what a supervisor sees, what QA reads later, and what gets stored with the call."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

from service.domain import Role
from service.escalation.policy import Level


class AlertStatus(enum.Enum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"


@dataclass
class Alert:
    """One open alert per call, channel and reason; upgraded in place when its level rises (`version` counts
    the changes so subscribers can tell an update from a repeat)."""

    call_id: str
    channel: int
    role: Role
    reason: str
    level: Level
    t_s: float  # call time at which it was raised (or last upgraded)
    start_s: float  # call-time range of the evidence
    end_s: float
    evidence: str  # one readable line: what crossed the line
    action: str  # what the handbook suggests doing
    score_name: str = ""  # "anger" / "disappointment" for score rules
    score: float = 0.0  # mean score over the evidence
    peak: float = 0.0
    duration_s: float = 0.0  # seconds of speech above the line
    pitch_st_vs_baseline: float = 0.0
    loudness_db_vs_baseline: float = 0.0
    excerpt: str = ""  # the transcript text: the sentence a phrase rule matched, the utterance a judgement quotes
    matched_phrase: str = ""  # the policy phrase (normalised) or pattern match found in it
    # Utterance rules (source "utterance"): what was said and how it sounded, as fields (evidence is the line)
    words_class: str = ""  # the emotion the words were read for ("anger"...); "" when no words were judged
    words_score: float = 0.0  # the words model's probability of it, 0-1
    words_phrase: str = ""  # the words that drove it most
    voice_score: float = 0.0  # the voice's probability of it (utterance view), 0-1
    queue: str = ""
    agent: str = ""
    status: AlertStatus = AlertStatus.OPEN
    raised_at: float = 0.0  # unix seconds
    updated_at: float = 0.0
    acknowledged_by: str = ""
    acknowledgement_note: str = ""
    acknowledged_at: float = 0.0
    version: int = 1
    # False: a coaching moment or low-risk type the policy does not page supervisors with (rule `page = false`):
    # stored and shown on the call, in lists and the CSV, but not pushed to subscribers unless they ask.
    page: bool = True
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def reasons(self) -> list[str]:
        return [self.reason]

    @property
    def is_open(self) -> bool:
        return self.status is AlertStatus.OPEN

    @property
    def freshness(self) -> tuple[int, bool]:
        """Which of two copies of an alert is newer, for subscribers that drop what they have seen: the higher
        version, and at the same version (an upgrade racing an acknowledgement) the acknowledged one."""
        return self.version, self.status is AlertStatus.ACKNOWLEDGED


@dataclass(frozen=True)
class AlertFilter:
    """What a subscriber wants: empty strings match everything."""

    call_id: str = ""
    queue: str = ""
    agent: str = ""
    min_level: Level = Level.LOW
    include_unpaged: bool = False  # also alerts whose rule says `page = false`

    def matches(self, alert: Alert) -> bool:
        return (
            (alert.page or self.include_unpaged)
            and (not self.call_id or alert.call_id == self.call_id)
            and (not self.queue or alert.queue == self.queue)
            and (not self.agent or alert.agent == self.agent)
            and alert.level >= self.min_level
        )


def alert_to_json(alert: Alert) -> dict[str, Any]:
    d = dataclasses.asdict(alert)
    d.update(role=alert.role.value, level=alert.level.name, status=alert.status.value)
    return d


def alert_from_json(d: dict[str, Any]) -> Alert:
    known = {f.name for f in dataclasses.fields(Alert)}
    d = {k: v for k, v in d.items() if k in known}
    d.update(role=Role(d["role"]), level=Level[d["level"]], status=AlertStatus(d["status"]))
    return Alert(**d)
