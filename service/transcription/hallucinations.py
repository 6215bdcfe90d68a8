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


# Common one- or two-word answers on a phone line. Whisper gives them low word probabilities (a lone "Yes."
# scored 0.12-0.18 on telephone audio, "No." 0.26), so the low-probability rule below dropped real answers; the
# speech detector already said a voice was there, so they are kept unless the decoder itself thinks there was
# no speech. Sign-offs that Whisper invents from silence ("Thank you.", "Bye.", "谢谢") are not in this list.
_SHORT_REPLIES_EN = """yes yeah yep yup no nope nah ok okay sure right fine correct exactly alright hello hi hey
    sorry what pardon maybe please wait really great good uh-huh mm-hmm hmm oh ah aha of-course got-it no-problem
    not-really"""
_SHORT_REPLIES_ZH = """对 对的 对对 对对对 是 是的 是啊 好 好的 好吧 行 行的 可以 不是 不对 不行 不要 不用 不用了 没有 没 嗯 嗯嗯 喂
    知道了 明白 明白了 没问题 什么 啊 哦 等一下 稍等 有 有的 不知道 当然"""
SHORT_REPLIES = frozenset(_SHORT_REPLIES_EN.split() + _SHORT_REPLIES_ZH.split())
_REPLY_STRIP = " \t.,!?;:…。，！？、；：\"'"
NO_SPEECH_FOR_SHORT_REPLY = 0.6


def is_short_reply(text: str) -> bool:
    """True for a common one- or two-word answer ("Yes.", "No!", "好的。", "Got it"), in either language."""
    key = "-".join(text.strip(_REPLY_STRIP).lower().replace("-", " ").split())
    return key in SHORT_REPLIES


def hallucination_reason(
    text: str,
    *,
    no_speech_prob: float,
    mean_word_probability: float,
    compression_ratio: float,
) -> str | None:
    """Why a decoded segment should not be shown as something the speaker said, or None to keep it."""
    stripped = text.strip()
    if not stripped:
        return "empty text"
    if _ALWAYS_RE.search(stripped):
        return "subtitle credit"
    if "\ufffd" in stripped and len(stripped.replace("\ufffd", "").strip()) <= 4:
        # U+FFFD: the decoder stopped inside a multi-byte character (its byte-level tokens did not make one);
        # on noise Whisper emits a few such fragments ("用续\ufffd" from hiss), never a caller's short answer
        return "broken characters (a fragment, not words)"
    if "\ufffd" in stripped and len(collapse_loops(list(stripped), min_repeats=3)) <= 0.6 * len(stripped):
        # a phrase looped 3+ times and cut off inside a character ("请您的设计,请您的设计,请您的设计,请您的设\ufffd"
        # from a 50 Hz hum): a decoding loop on noise; real speech never carries U+FFFD, so a caller who
        # repeats themselves ("我要退款，我要退款，我要退款") is never dropped by this
        return "repetition loop cut off inside a character"
    if compression_ratio > 2.4:  # the same words over and over: a decoding loop, not speech
        return f"repetition loop (compression ratio {compression_ratio:.1f})"
    unsure = no_speech_prob > 0.3 or mean_word_probability < 0.55
    if unsure and _UNSURE_RE.search(stripped):
        return (
            f"sign-off said while unsure (no-speech {no_speech_prob:.2f}, word probability {mean_word_probability:.2f})"
        )
    if is_short_reply(stripped) and no_speech_prob <= NO_SPEECH_FOR_SHORT_REPLY:
        return None
    if mean_word_probability < 0.3:
        return f"low word probability ({mean_word_probability:.2f})"
    return None


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
