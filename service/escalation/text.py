"""Text normalisation for phrase rules: case, width, punctuation, spacing and traditional vs simplified
Chinese must not decide whether "我要投訴你們領導！" matches "我要投诉你们领导"."""

from __future__ import annotations

import re
import unicodedata

import opencc

from service.escalation.numerals import counts_as_digits

_T2S = opencc.OpenCC("t2s")
_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}]) +| +(?=[{_CJK}])")


def normalise(text: str) -> str:
    """NFKC, lower case, simplified Chinese, punctuation to spaces, no spaces next to Chinese characters, counts
    as digits (第三次 / 第3次, "third time" / "3rd time": service/escalation/numerals.py)."""
    text = _T2S.convert(unicodedata.normalize("NFKC", text)).lower()
    text = "".join(c if c.isalnum() or c == "'" else " " for c in text)
    text = " ".join(text.split())
    return counts_as_digits(_SPACE_NEAR_CJK.sub("", text))


def contains_phrase(normalised_text: str, phrase: str) -> bool:
    """`phrase` (normalised) in the text, as whole words where it starts or ends with a Latin letter/digit."""
    start = 0
    while (i := normalised_text.find(phrase, start)) >= 0:
        before = normalised_text[i - 1] if i > 0 else " "
        after = normalised_text[i + len(phrase)] if i + len(phrase) < len(normalised_text) else " "
        ok_before = not (phrase[0].isascii() and phrase[0].isalnum() and before.isascii() and before.isalnum())
        ok_after = not (phrase[-1].isascii() and phrase[-1].isalnum() and after.isascii() and after.isalnum())
        if ok_before and ok_after:
            return True
        start = i + 1
    return False


# Question words and sentence-final particles. Whisper writes "?" / "？" where it hears a question (often from
# the rising final pitch), so the mark counts; the words catch questions transcribed without one.
_QUESTION_MARKS = ("?", "？")
_ZH_FINAL = ("吗", "呢", "么", "吧")
_ZH_WORDS = ("什么", "怎么", "为什么", "为啥", "哪里", "哪个", "哪儿", "多少", "多久", "几点", "是不是", "能不能",
             "可不可以", "会不会", "有没有", "对不对", "要不要")  # fmt: skip
_EN_START = re.compile(
    r"^(what|why|how|when|where|which|who|whose|can|could|would|will|is|are|am|do|does|did|should|have|has)\b"
)


def is_question(text: str) -> bool:
    """Whether a transcript sentence is a question: a question mark, a Chinese question particle at the end or
    question word anywhere, or an English sentence opening like a question."""
    raw = unicodedata.normalize("NFKC", text).strip()
    if raw.endswith(_QUESTION_MARKS):
        return True
    norm = normalise(raw)
    if not norm:
        return False
    if norm.endswith(_ZH_FINAL) or any(w in norm for w in _ZH_WORDS):
        return True
    return bool(_EN_START.match(norm))
