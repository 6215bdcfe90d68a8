"""Recognise Whisper's hallucinations: text it produces from silence, noise or music rather than speech.

Whisper was trained on subtitled video, so on non-speech it tends to emit subtitle credits and sign-offs.
Credits are always dropped (no caller says them); common sign-offs only when the decoder was unsure.
"""

from __future__ import annotations

import re

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
