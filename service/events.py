"""What a call session tells its client, as domain events; servicer.py turns them into CallEvent messages."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from service.domain import CallStatus, Role
from service.dynamics.conversation import Dynamics
from service.emotion import EmotionEstimate
from service.errors import CallguardError
from service.escalation.alerts import Alert
from service.judgement.results import UtteranceJudgement
from service.transcription.results import Segment


@dataclass(frozen=True)
class Accepted:
    call_id: str
    languages: tuple[str, ...]
    resumed_from_s: float = 0.0  # a resumed call: where its stored audio ends


@dataclass(frozen=True)
class FinalTranscript:
    channel: int
    role: Role
    segment: Segment


@dataclass(frozen=True)
class InterimTranscript:
    channel: int
    role: Role
    start_s: float
    end_s: float
    text: str
    language: str


@dataclass(frozen=True)
class EmotionUpdate:
    channel: int
    role: Role
    estimate: EmotionEstimate


@dataclass(frozen=True)
class UtteranceEmotion:
    """One utterance judged by what was said and how it sounded (service/judgement)."""

    channel: int
    role: Role
    judgement: UtteranceJudgement


@dataclass(frozen=True)
class ConversationDynamics:
    dynamics: Dynamics


@dataclass(frozen=True)
class Progress:
    bytes_stored: int
    audio_s: float


class NoticeCode(enum.Enum):
    TRANSCRIPTION_SHED = "TRANSCRIPTION_SHED"
    ANALYSIS_SHED = "ANALYSIS_SHED"
    TRANSCRIPT_DROPPED = "TRANSCRIPT_DROPPED"


@dataclass(frozen=True)
class Notice:
    code: NoticeCode
    channel: int
    start_s: float
    end_s: float
    message: str


@dataclass(frozen=True)
class Ended:
    status: CallStatus
    duration_s: float
    segments: int
    utterances_shed: int
    segments_dropped: int = 0


@dataclass(frozen=True)
class Failed:
    """Ends the stream with an error status (never sent as an event)."""

    error: CallguardError


@dataclass(frozen=True)
class Escalation:
    """An alert on this call was raised or upgraded (a snapshot: later changes come as new events)."""

    alert: Alert


Event = (
    Accepted
    | FinalTranscript
    | InterimTranscript
    | EmotionUpdate
    | UtteranceEmotion
    | Progress
    | Notice
    | Ended
    | Escalation
    | ConversationDynamics
)


@dataclass(frozen=True)
class Stamped:
    """An event with the call time at which it was emitted."""

    call_time_s: float
    event: Event | Failed
