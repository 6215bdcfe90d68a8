"""Transcript results as small dataclasses (call time, seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field

from features.syllables import speech_rate


@dataclass(frozen=True)
class Word:
    start_s: float
    end_s: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """One final transcript segment of one channel, timed in call time."""

    start_s: float
    end_s: float
    text: str
    language: str
    language_probability: float
    avg_logprob: float
    words: tuple[Word, ...] = field(default_factory=tuple)

    @property
    def speech_rate_sps(self) -> float:
        """Syllables per second over its words' span (features.syllables); 0 without word timings."""
        return speech_rate([(w.start_s, w.end_s, w.text) for w in self.words])
