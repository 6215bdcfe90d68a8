"""The call as the service sees it, independent of gRPC and of the storage engine."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from service.audio.formats import AudioFormat
from service.errors import InvalidInput

# gRPC initial metadata of SubscribeAlerts: how many of the first messages are alerts already open when the
# subscription started (the rest are changes as they happen).
OPEN_ALERTS_HEADER = "callguard-open-alerts"

CALL_ID_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
MAX_METADATA_ENTRIES = 32
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 1024


class Role(enum.Enum):
    CUSTOMER = "CUSTOMER"
    AGENT = "AGENT"


class CallStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    INCOMPLETE = "INCOMPLETE"


def check_call_id(call_id: str) -> str:
    """Call ids become file names: allow only a safe alphabet, no path separators, no leading dot."""
    if not CALL_ID_RE.fullmatch(call_id):  # (match with `$` let a trailing newline through)
        raise InvalidInput(
            f"call_id {call_id[:80]!r} is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -, not starting "
            "with '.', or leave it empty to get one assigned"
        )
    return call_id


def check_metadata(metadata: dict[str, str]) -> dict[str, str]:
    if len(metadata) > MAX_METADATA_ENTRIES:
        raise InvalidInput(f"metadata has {len(metadata)} entries; at most {MAX_METADATA_ENTRIES} are allowed")
    for key, value in metadata.items():
        if not key or len(key) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise InvalidInput(
                f"metadata entry {key[:80]!r}: keys must be 1-{MAX_METADATA_KEY} characters and values at most "
                f"{MAX_METADATA_VALUE}"
            )
    return dict(metadata)


@dataclass(frozen=True)
class CallSpec:
    """A validated CallConfig."""

    call_id: str
    format: AudioFormat
    roles: tuple[Role, ...]
    language: str
    languages: tuple[str, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    interim_results: bool = False
    resume: bool = False  # continue an INCOMPLETE call with this id

    def role(self, channel: int) -> Role:
        return self.roles[channel]


def resolve_languages(hint: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """'auto'/'' -> the server's languages; 'zh' or 'zh,en' -> those, if Whisper knows them."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    hint = hint.strip().lower()
    if hint in ("", "auto"):
        return allowed
    langs = tuple(dict.fromkeys(p.strip() for p in hint.split(",") if p.strip()))
    unknown = [lang for lang in langs if lang not in _LANGUAGE_CODES]
    if unknown or not langs:
        raise InvalidInput(
            f"language {hint[:40]!r} is not understood: use ISO 639-1 codes such as 'zh', 'en', 'zh,en', or 'auto'"
        )
    return langs


def default_roles(channel_count: int) -> tuple[Role, ...]:
    return (Role.CUSTOMER,) if channel_count == 1 else (Role.CUSTOMER, Role.AGENT)


@dataclass
class CallRecord:
    """A stored call (without transcript)."""

    call_id: str
    started_at: float  # unix seconds
    format: AudioFormat
    roles: tuple[Role, ...]
    language: str
    metadata: dict[str, str]
    status: CallStatus = CallStatus.ACTIVE
    ended_at: float | None = None
    end_reason: str = ""
    audio_bytes: int = 0
    segment_count: int = 0
    utterances_shed: int = 0
    segments_dropped: int = 0  # decoded text not shown because it looked like a hallucination
    # Derived from the call's emotions and alerts (for QA lists; not written by create_call):
    peak_anger: float = 0.0
    peak_disappointment: float = 0.0
    max_alert_level: int = 0  # 0 none, 1 LOW, 2 MEDIUM, 3 HIGH
    alert_count: int = 0
    open_alert_count: int = 0
    alert_reasons: tuple[str, ...] = ()
    # From the conversation dynamics (service/dynamics; 0 until the first update):
    customer_talk_share: float = 0.0
    agent_talk_share: float = 0.0
    overtalk_s: float = 0.0
    interruptions: int = 0
    longest_silence_s: float = 0.0
    dynamics_json: str = ""  # the whole ConversationDynamics as JSON (conversation.to_dict), "" before any

    @property
    def duration_s(self) -> float:
        return self.format.duration_s(self.audio_bytes)


class CallOrder(enum.Enum):
    NEWEST = "NEWEST"  # by start time, newest first
    PEAK_ANGER = "PEAK_ANGER"  # by the highest anger estimate of any speaker, highest first
    # by the conversation dynamics, highest first (QA looking for talk-over, cut-offs, dead air)
    OVERTALK = "OVERTALK"
    INTERRUPTIONS = "INTERRUPTIONS"
    LONGEST_SILENCE = "LONGEST_SILENCE"
    AGENT_TALK_SHARE = "AGENT_TALK_SHARE"

    @property
    def field(self) -> str:
        """The CallRecord field (and calls column) the order sorts by."""
        return _ORDER_FIELD[self]


_ORDER_FIELD = {
    CallOrder.NEWEST: "started_at",
    CallOrder.PEAK_ANGER: "peak_anger",
    CallOrder.OVERTALK: "overtalk_s",
    CallOrder.INTERRUPTIONS: "interruptions",
    CallOrder.LONGEST_SILENCE: "longest_silence_s",
    CallOrder.AGENT_TALK_SHARE: "agent_talk_share",
}

AGENT_KEYS = ("agent", "agent_id")  # metadata keys that name the agent, the first one set wins


def agent_of(metadata: Mapping[str, str]) -> str:
    """The call's agent from its metadata: gateways send `agent` or `agent_id`; both filter and display."""
    return next((metadata[k] for k in AGENT_KEYS if metadata.get(k)), "")


@dataclass(frozen=True)
class CallQuery:
    """Which stored calls QA wants to see; every field narrows the list (defaults: all calls, newest first).
    One query type for the gRPC ListCalls and the web console, so both show the same calls."""

    status: CallStatus | None = None
    started_from: float | None = None  # unix seconds, inclusive
    started_to: float | None = None  # unix seconds, exclusive
    min_alert_level: int = 0  # 1-3: only calls with an alert at this level or above
    reason: str = ""  # only calls with an alert for this reason code
    agent: str = ""  # metadata["agent"] or metadata["agent_id"] (AGENT_KEYS)
    queue: str = ""  # metadata["queue"]
    unacknowledged_only: bool = False  # only calls with an alert still open
    text: str = ""  # in the call id, a metadata value or the transcript (case-insensitive substring)
    order: CallOrder = CallOrder.NEWEST


@dataclass(frozen=True)
class AuditEntry:
    """Who read, played, exported or acknowledged what, and when."""

    at: float  # unix seconds
    who: str
    role: str
    action: str  # read / listen / export / acknowledge
    call_id: str
    detail: str = ""
