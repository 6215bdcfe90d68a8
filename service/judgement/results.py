"""What the utterance judgement says about one utterance, as small dataclasses (call time in seconds,
probabilities 0-1). Stored with the call, streamed as UtteranceEmotion events, and what score rules with
`source = "utterance"` read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SCORES = ("anger", "disappointment", "anxiety", "confusion")


@dataclass(frozen=True)
class WordsEvidence:
    """What was said: the words model's probabilities (features.text_emotion) and the words behind them."""

    language: str  # the language model that read it ("zh" / "en")
    anger: float
    disappointment: float
    anxiety: float
    confusion: float
    neutral: float
    # class -> the words that pushed it up most (strongest first), for the classes worth explaining
    drivers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def phrase(self, cls: str) -> str:
        """The words that drove `cls` most, or "" if none were found."""
        found = self.drivers.get(cls, ())
        return found[0] if found else ""

    def top(self) -> tuple[str, float]:
        """The strongest of the four emotions in the words, and its probability."""
        cls = max(SCORES, key=lambda c: getattr(self, c))
        return cls, float(getattr(self, cls))


@dataclass(frozen=True)
class VoiceEvidence:
    """How it sounded. `anger`/`sad`: the voice's probabilities for the utterance (`source` says from what:
    "utterance" is the utterance view, encoder states + prosody; "windows" the 3 s window estimates over its
    time, when transcription did not run); `windows_anger`/`windows_sad`: the window estimates' mean over the
    utterance (NaN when none). Pitch and loudness against the speaker's baseline (NaN before there is one)."""

    source: str
    anger: float
    sad: float
    neutral: float
    other: float
    windows_anger: float = math.nan
    windows_sad: float = math.nan
    pitch_st_vs_baseline: float = math.nan
    loudness_db_vs_baseline: float = math.nan
    pitch_hz: float = math.nan
    encoder_window_s: float = 0.0  # the decode window the encoder states came from (0: none)


@dataclass(frozen=True)
class UtteranceJudgement:
    """One utterance judged by what was said and how it sounded: the fused scores the policy reads, and both
    sources behind them."""

    start_s: float
    end_s: float
    speech_s: float  # seconds of speech the judgement rests on
    text: str  # the (redacted) transcript of the utterance; "" when it was not transcribed
    language: str
    anger: float
    disappointment: float
    anxiety: float
    confusion: float
    neutral: float
    voice: VoiceEvidence
    words: WordsEvidence | None = None
    # The voice the fusion used: the utterance view blended with the 3 s windows (the [fusion] table's shares)
    voice_anger: float = math.nan
    voice_disappointment: float = math.nan

    def score(self, name: str) -> float:
        """A fused score ("anger"...), a words-only one ("words_anger"...) or a voice-only one ("voice_anger",
        "voice_disappointment"); NaN when that source has nothing to say."""
        if name.startswith("words_"):
            return math.nan if self.words is None else float(getattr(self.words, name[6:]))
        if name == "voice_anger":
            return self.voice.anger if math.isnan(self.voice_anger) else self.voice_anger
        if name == "voice_disappointment":
            return self.voice.sad if math.isnan(self.voice_disappointment) else self.voice_disappointment
        return float(getattr(self, name))
