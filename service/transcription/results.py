"""Transcript results as small dataclasses (call time, seconds)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
