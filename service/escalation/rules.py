"""The escalation policy's rules as dataclasses: what each kind of rule looks at and when it raises an alert.

Parsed from the policy file by service/escalation/policy.py (the file format is documented in
default_policy.toml); read by the detector, the outcome and the coaching code.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from service.domain import Role
from service.judgement.fusion import FusionOptions

# Score rules read either the 3 s window estimates ("window": anger, disappointment) or the utterance
# judgements ("utterance": the fused scores, or one source alone: words_*, voice_*).
SOURCES = ("window", "utterance")
WINDOW_SCORES = ("anger", "disappointment")
UTTERANCE_SCORES = (
    "anger", "disappointment", "anxiety", "confusion",
    "words_anger", "words_disappointment", "words_anxiety", "words_confusion",
    "voice_anger", "voice_disappointment",
)  # fmt: skip


class Level(enum.IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass(frozen=True)
class ScoreRule:
    """A score over time per speaker: `enter`/`exit` hysteresis, seconds of speech per level, a silence gap that
    ends a run, a cooldown. `source` "window": the 3 s window estimates (one per second of speech);
    "utterance": the utterance judgements (words and voice; each counts its own length of speech)."""

    reason: str
    score: str  # see WINDOW_SCORES / UTTERANCE_SCORES
    roles: frozenset[Role]
    enter: float
    exit: float
    levels: tuple[tuple[float, Level], ...]  # (seconds of speech, level), ascending
    max_gap_s: float
    cooldown_s: float
    action: str
    page: bool = True  # false: shown on the call, in lists and the CSV, not pushed to supervisors
    source: str = "window"


@dataclass(frozen=True)
class PhraseRule:
    reason: str
    level: Level
    roles: frozenset[Role]
    phrases: tuple[str, ...]  # normalised
    patterns: tuple[re.Pattern[str], ...]
    action: str
    page: bool = True


@dataclass(frozen=True)
class QuestionRule:
    """Frequent questions (confusion / uncertainty): `count` questions within `window_s` of call time. A
    sentence is a question by its words (escalation.text.is_question) or, when decoded in one of
    `rise_languages`, by its voice rising at least `rise_st` semitones at the end (0 turns that off)."""

    reason: str
    level: Level
    roles: frozenset[Role]
    count: int
    window_s: float
    action: str
    page: bool = True
    rise_st: float = 4.0
    rise_languages: tuple[str, ...] = ("en",)


@dataclass(frozen=True)
class RateRule:
    """Speech faster than the speaker's own pace (anxiety / impatience): the transcript's syllable rate
    (Whisper word timings) of `hold` sentences in a row at least `ratio` times the median of the speaker's
    first `baseline` sentences. Sentences under `min_syllables` ("嗯", "yes") are not timed reliably: skipped."""

    reason: str
    level: Level
    roles: frozenset[Role]
    ratio: float = 1.25
    hold: int = 2
    baseline: int = 4
    min_syllables: int = 5
    cooldown_s: float = 60.0
    action: str = ""
    page: bool = True


@dataclass(frozen=True)
class PauseRule:
    """Frequent pauses inside the speaker's own turn (confusion / uncertainty): `count` pauses within
    `window_s` of call time. A pause is the conversation dynamics' (service/dynamics/conversation.py): a
    silence of 0.5-3 s between two of the speaker's talk spurts while nobody else talked; stereo calls only.
    Not in the default policy: no corpus here has conversational speech to set `count` on."""

    reason: str
    level: Level
    roles: frozenset[Role]
    count: int = 6
    window_s: float = 60.0
    action: str = ""
    page: bool = False


@dataclass(frozen=True)
class ResponseRule:
    """How an alert's outcome is judged (service/escalation/outcome.py; the [response] table)."""

    calm_hold_s: float = 3.0  # seconds of the speaker's speech in a row under the calm line: calmed
    calm_within_s: float = 60.0  # calmed within this much call time of the alert, and no relapse: effective
    partly_drop: float = 0.3  # never calmed, but the score fell by this fraction of the alert's: partly
    tail_s: float = 10.0  # the "after" score: mean over the speaker's last seconds of speech
    calm_line: float = 0.3  # phrase alerts (no score rule of their own): anger under this is calm
    relapse_line: float = 0.6  # phrase alerts: anger at or above this after calming is a relapse
    calm_pace: float = 1.15  # rate alerts: sentences under this multiple of the speaker's own pace are calm


@dataclass(frozen=True)
class CoachingRule:
    """When the agent's side is a coaching moment (service/escalation/coaching.py; the [coaching] table)."""

    upset_line: float = 0.5  # customer anger or disappointment at this: upset; agent anger at this: angry
    upset_window_s: float = 10.0  # the customer was upset this long before the agent cut in
    contagion_window_s: float = 60.0  # the agent's voice rose within this after the customer was upset
    raised_voice_db: float = 6.0  # agent loudness over their own baseline that counts as a raised voice


@dataclass(frozen=True)
class Policy:
    score_rules: tuple[ScoreRule, ...]
    phrase_rules: tuple[PhraseRule, ...]
    source: str = ""
    response: ResponseRule = ResponseRule()
    coaching: CoachingRule = CoachingRule()
    question_rules: tuple[QuestionRule, ...] = ()
    rate_rules: tuple[RateRule, ...] = ()
    pause_rules: tuple[PauseRule, ...] = ()
    fusion: FusionOptions = field(default_factory=FusionOptions)
