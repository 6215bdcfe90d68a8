"""Counts as digits, for phrase matching: Whisper writes the same words as 第三次, 第3次 or 第叁次, and "third
time", "3rd time" or "three times", so a rule written with one form must match the others.

Only counts are rewritten (a numeral before 次/遍/回 or after 第; a number or ordinal word before "time(s)";
once/twice/thrice), so words that merely contain a numeral character (一下, 一直, 十分, "one of them") are left
alone. Both the transcript and the policy's phrases pass through it (service/escalation/text.normalise), so
excerpts keep what was said. Shapes: str -> str, lower-cased input (normalise lower-cases first).
"""

from __future__ import annotations

import re

_ZH_DIGITS = {"零": 0, "〇": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
              "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}  # fmt: skip
_ZH_NUMERAL = "[零〇一壹二贰两三叁四肆五伍六陆七柒八捌九玖十拾百佰]+"
_ZH_COUNT = re.compile(rf"(?<=第)({_ZH_NUMERAL})|({_ZH_NUMERAL})(?=[次遍回趟])")
_EN_CARDINAL = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]  # fmt: skip
_EN_ORDINAL = ["zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
               "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
               "eighteenth", "nineteenth", "twentieth"]  # fmt: skip
_EN_WORDS = {w: str(i) for i, w in enumerate(_EN_CARDINAL)} | {w: str(i) for i, w in enumerate(_EN_ORDINAL)}
_EN_COUNT = re.compile(rf"\b({'|'.join(sorted(_EN_WORDS, key=len, reverse=True))}|\d+(?:st|nd|rd|th)?)(?= times?\b)")
_EN_ADVERB = {"once": "1 times", "twice": "2 times", "thrice": "3 times"}
_EN_ADVERB_RE = re.compile(r"\b(once|twice|thrice)\b")


def zh_number(numeral: str) -> int | None:
    """A Chinese numeral of 0-999 (三, 十三, 二十, 一百零五, 两) as an int; None for what is not one."""
    if all(c in _ZH_DIGITS for c in numeral):  # digit by digit: 二零 = 20 in counts is rare, 三 = 3
        return int("".join(str(_ZH_DIGITS[c]) for c in numeral)) if len(numeral) <= 3 else None
    total, digit = 0, None
    for c in numeral:
        if c in _ZH_DIGITS:
            digit = _ZH_DIGITS[c]
        elif c in "十拾":
            total += (1 if digit is None else digit) * 10
            digit = None
        elif c in "百佰":
            if digit is None:
                return None
            total += digit * 100
            digit = None
    return total + (digit or 0)


def counts_as_digits(text: str) -> str:
    """`text` with counts written as digits: 第三次 -> 第3次, 打了三次 -> 打了3次, "third time" -> "3 time",
    "3rd time" -> "3 time", "three times" -> "3 times", "twice" -> "2 times"."""

    def zh(m: re.Match[str]) -> str:
        n = zh_number(m.group(0))
        return m.group(0) if n is None else str(n)

    text = _ZH_COUNT.sub(zh, text)
    text = _EN_ADVERB_RE.sub(lambda m: _EN_ADVERB[m.group(1)], text)
    return _EN_COUNT.sub(lambda m: _EN_WORDS.get(m.group(1)) or re.sub(r"\D", "", m.group(1)), text)
