"""Syllables in recognised text, for speech rate from the transcript's word timings.

Mandarin: one Han character is one syllable. English: vowel groups, minus a silent final 'e' (a common
approximation, good to about one syllable in ten on conversational words).
"""

from __future__ import annotations

import re

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_VOWEL_GROUPS = re.compile(r"[aeiouy]+")
_LATIN_WORD = re.compile(r"[a-z]+")


def count_syllables(text: str) -> int:
    han = len(_HAN.findall(text))
    latin = 0
    for word in _LATIN_WORD.findall(text.lower()):
        groups = len(_VOWEL_GROUPS.findall(word))
        if word.endswith("e") and not word.endswith(("le", "ee")) and groups > 1:
            groups -= 1
        latin += max(groups, 1)
    return han + latin


def speech_rate(words: list[tuple[float, float, str]]) -> float:
    """Syllables per second from (start_s, end_s, text) words; 0 without words."""
    if not words:
        return 0.0
    span = words[-1][1] - words[0][0]
    if span <= 0:
        return 0.0
    return sum(count_syllables(text) for _, _, text in words) / span
