"""Text as the words model reads it: the same for training text (Weibo, TV subtitles, Reddit) and for what
Whisper writes on a phone line, so that the differences between them do not decide a score.

What a transcript never has, or has only sometimes, is removed from both: social-media markup (`//@user:`,
`#topic#`, `[emoji]`, URLs, emoji), punctuation (Whisper writes it only sometimes), case and width.
Traditional characters become Simplified (OpenCC; Whisper writes either). Numbers are written one way:
Mandarin digits as Chinese numerals digit by digit ("第3次" and "第三次" both read 第三次; Whisper writes
either), English digits and ordinals up to twenty as words ("3rd time" reads "third time").

Mandarin text is also read as toneless pinyin (pypinyin): Whisper's homophone errors (失望 -> 施望) keep the
sound, so the pinyin view still sees the word.
"""

from __future__ import annotations

import re
import threading
import unicodedata

import opencc
from pypinyin import Style, lazy_pinyin

_T2S = opencc.OpenCC("t2s")
_T2S_LOCK = threading.Lock()  # OpenCC converters are not documented as thread-safe

_MARKUP = (
    re.compile(r"//@[^:：\s]{1,30}[:：]"),  # Weibo repost chain "//@user:"
    re.compile(r"@[^\s:：,，@]{1,30}"),  # mentions
    re.compile(r"#[^#]{1,40}#"),  # Weibo topics "#topic#"
    re.compile(r"\[[^\[\]]{1,12}\]"),  # Weibo emoji "[哈哈]"
    re.compile(r"https?://\S+|www\.\S+"),  # URLs
    re.compile(r"<[^>]{1,20}>"),  # HTML-ish tags
)
_ZH_DIGITS = str.maketrans("0123456789", "零一二三四五六七八九")
_CJK = "\u3400-\u9fff\uf900-\ufaff"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}]) +| +(?=[{_CJK}])")

_EN_NUMBERS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_EN_ORDINALS = [
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
]
_EN_NUMBER = re.compile(r"\b(\d{1,2})(st|nd|rd|th)?\b")


def _en_number(m: re.Match[str]) -> str:
    n = int(m.group(1))
    if n > 20:
        return m.group(0)
    return _EN_ORDINALS[n] if m.group(2) else _EN_NUMBERS[n]


def strip_markup(text: str) -> str:
    """Social-media markup a transcript never carries, removed."""
    for pattern in _MARKUP:
        text = pattern.sub(" ", text)
    return text


def normalise(text: str, language: str) -> str:
    """The words model's view of `text` ("zh" or "en"): no markup, punctuation, emoji or case; Simplified
    characters; numbers written one way. Words separated by single spaces; none next to Chinese characters."""
    text = strip_markup(unicodedata.normalize("NFKC", text))
    if language == "zh":
        with _T2S_LOCK:
            text = _T2S.convert(text)
        text = text.translate(_ZH_DIGITS)
    text = text.lower().replace("’", "'")
    if language == "en":
        text = _EN_NUMBER.sub(_en_number, text)
    text = "".join(c if c.isalnum() or c == "'" else " " for c in text)
    text = " ".join(w.strip("'") for w in text.split())
    return _SPACE_NEAR_CJK.sub("", " ".join(text.split())) if language == "zh" else " ".join(text.split())


def pinyin(normalised_zh: str) -> str:
    """Toneless pinyin of normalised Mandarin text, one syllable per Chinese character, other words as they
    are: "太让人失望了" -> "tai rang ren shi wang le"."""
    return " ".join(lazy_pinyin(normalised_zh, style=Style.NORMAL, errors=lambda s: s.split()))
