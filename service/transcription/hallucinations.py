"""Recognise Whisper's hallucinations: text it produces from silence, noise or music rather than speech.

Whisper was trained on subtitled video, so on non-speech it tends to emit subtitle credits and sign-offs.
Credits are always dropped (no caller says them); common sign-offs only when the decoder was unsure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

_ALWAYS = [
    r"amara\.org",
    r"字幕",
    r"明镜|明鏡",
    r"点赞|點贊|订阅|訂閱",
    r"yoyo television",
    r"優優獨播|优优独播",
    r"subtitles by",
    r"transcribed by",
    r"please subscribe",
]
_WHEN_UNSURE = [
    r"^thank you\.?$",
    r"^thanks for watching!?\.?$",
    r"^thank you for watching\.?$",
    r"^you$",
    r"^bye\.?$",
    r"^谢谢观看[。！]?$",
    r"^谢谢[。！]?$",
    r"^謝謝[。！]?$",
    r"^(\.|…|。)+$",
]
_ALWAYS_RE = re.compile("|".join(_ALWAYS), re.IGNORECASE)
_UNSURE_RE = re.compile("|".join(_WHEN_UNSURE), re.IGNORECASE)


def is_hallucination(
    text: str,
    *,
    no_speech_prob: float,
    mean_word_probability: float,
    compression_ratio: float,
) -> bool:
    """True when a decoded segment should not be shown as something the speaker said."""
    stripped = text.strip()
    if not stripped or _ALWAYS_RE.search(stripped):
        return True
    if compression_ratio > 2.4:  # the same words over and over: a decoding loop, not speech
        return True
    unsure = no_speech_prob > 0.3 or mean_word_probability < 0.55
    if unsure and _UNSURE_RE.search(stripped):
        return True
    return mean_word_probability < 0.3


def collapse_loops(
    items: Sequence[T], *, key: Callable[[T], str] = str, min_repeats: int = 4, max_unit: int = 8
) -> list[T]:
    """Keep one copy of any unit of 1..max_unit items repeated `min_repeats`+ times in a row.

    Whisper sometimes loops on a phrase ("拦倒,拦倒,拦倒,拦倒,..."); short segments never reach the
    compression-ratio test that catches long loops. Applied to characters of the text and to the word list.
    """
    keys = [key(x).strip(" ,.，。、!?！？") for x in items]
    out: list[T] = []
    i = 0
    while i < len(items):
        step = 0
        for unit in range(1, max_unit + 1):
            pattern = keys[i : i + unit]
            if len(pattern) < unit:
                break
            if not any(pattern):
                continue
            repeats = 1
            while keys[i + repeats * unit : i + (repeats + 1) * unit] == pattern:
                repeats += 1
            if repeats >= min_repeats:
                out.extend(items[i : i + unit])
                step = repeats * unit
                break
        if step == 0:  # no loop starts here
            out.append(items[i])
            step = 1
        i += step
    return out
