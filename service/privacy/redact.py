"""PII masking of call transcripts (English and Mandarin Whisper output) before they are stored or exported.

Speech recognition writes numbers as ASCII digits, full-width digits or Chinese numerals ("一三八…"), so detection
runs on a parallel string in which each of those characters is one ASCII digit, and masking is applied to the
original characters. Masks keep the length (separators stay), so word timings still line up with the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Span = tuple[int, int, str]

# One character in, one character out: the parallel string has the same length as the text.
_TO_ASCII = str.maketrans(
    {c: str(i) for i, c in enumerate("零一二三四五六七八九")}
    | {"〇": "0", "幺": "1", "＋": "+", "－": "-", "（": "(", "）": ")"}
    | {chr(0xFF10 + i): str(i) for i in range(10)}
)
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])", re.ASCII)
_CN_ID = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")
# A card candidate (never after '+') is a whole run of digit groups joined by single spaces or dashes, never part of a longer run.
_CARD_RUN = re.compile(r"(?<![0-9A-Za-z+])(?<![0-9][ -])[0-9]+(?:[ -][0-9]+)*(?![0-9A-Za-z])")
_GROUP = re.compile(r"[0-9]+")
_CN_MOBILE = re.compile(
    r"(?<![0-9A-Za-z+])(?<![0-9][ .-])(?:\+?86[ -]?)?1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}(?![0-9A-Za-z])(?![ .-][0-9])"
)
# A generic phone is likewise a whole run (so a card that failed Luhn is not partly masked), not after a currency sign.
_PHONE = re.compile(r"(?<![0-9A-Za-z+$¥￥€£])(?<![0-9][ .-])\+?\(?[0-9][0-9 .()-]*[0-9](?![0-9A-Za-z])(?![ .-][0-9])")
_PHONE_SHAPE = re.compile(r"\+?(?:\([0-9]+\)[ .-]?)?[0-9]+(?:[ .-][0-9]+|[ .-]?\([0-9]+\)[ .-]?[0-9]+)*")
# Digit runs that look like a phone but are dates, IPv4 addresses or decimal amounts.
_NOT_PHONE = re.compile(
    r"[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2[0-9]{4}"
    r"|[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9]+\.[0-9]{2}"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class RedactionOptions:
    """Which kinds of personal data to mask, and the (single) character that replaces each letter or digit."""

    cards: bool = True
    phones: bool = True
    emails: bool = True
    cn_ids: bool = True
    mask: str = "*"

    def __post_init__(self) -> None:
        if len(self.mask) != 1:
            raise ValueError(f"mask must be one character (masks keep the text's length), got {self.mask!r}")


def _digits(s: str) -> str:
    return "".join(c for c in s if "0" <= c <= "9")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _cn_id_ok(s: str) -> bool:
    """ISO 7064 MOD 11-2 check character of an 18-character resident ID number."""
    check = "10X98765432"[sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True)) % 11]
    return s[17].upper() == check


def _emails(s: str) -> Iterator[tuple[int, int]]:
    for m in _EMAIL.finditer(s):
        yield m.span()


def _cn_ids(s: str) -> Iterator[tuple[int, int]]:
    for m in _CN_ID.finditer(s):
        if _cn_id_ok(m.group()):
            yield m.span()


def _cards(s: str) -> Iterator[tuple[int, int]]:
    """Whole runs that pass Luhn; in a longer run, the longest stretch of whole groups that does."""
    for run in _CARD_RUN.finditer(s):
        groups = [g.span() for g in _GROUP.finditer(s, run.start(), run.end())]
        i = 0
        while i < len(groups):
            for j in range(len(groups), i, -1):
                start, end = groups[i][0], groups[j - 1][1]
                digits = _digits(s[start:end])
                if 13 <= len(digits) <= 19 and _luhn_ok(digits):
                    yield start, end
                    i = j
                    break
            else:
                i += 1


def _cn_mobiles(s: str) -> Iterator[tuple[int, int]]:
    for m in _CN_MOBILE.finditer(s):
        yield m.span()


def _phones(s: str) -> Iterator[tuple[int, int]]:
    for m in _PHONE.finditer(s):
        token = m.group()
        if 7 <= len(_digits(token)) <= 15 and _PHONE_SHAPE.fullmatch(token) and not _NOT_PHONE.fullmatch(token):
            yield m.span()


def _detectors(options: RedactionOptions) -> list[tuple[str, Callable[[str], Iterator[tuple[int, int]]]]]:
    """In priority order: an ID number before phones, so it is not half-masked as one; a +86 mobile (13 digits)
    before cards, so it is not called a card when it happens to pass Luhn."""
    table = [
        (options.emails, "email", _emails),
        (options.cn_ids, "cn_id", _cn_ids),
        (options.phones, "phone", _cn_mobiles),
        (options.cards, "card", _cards),
        (options.phones, "phone", _phones),
    ]
    return [(kind, find) for enabled, kind, find in table if enabled]


def redact(text: str, options: RedactionOptions = RedactionOptions()) -> tuple[str, list[Span]]:
    """Mask personal data; returns the masked text (same length) and the (start, end, kind) spans, in text order."""
    plain = text.translate(_TO_ASCII)
    work = plain
    spans: list[Span] = []
    for kind, find in _detectors(options):
        found = list(find(work))
        for start, end in found:
            spans.append((start, end, kind))
            work = work[:start] + "#" * (end - start) + work[end:]  # taken: later kinds cannot match it again
    spans.sort()
    out = list(text)
    for start, end, _ in spans:
        for i in range(start, end):
            if plain[i].isalnum():
                out[i] = options.mask
    return "".join(out), spans


def redact_segment(
    text: str, words: list[str], options: RedactionOptions = RedactionOptions()
) -> tuple[str, list[str], list[str]]:
    """Mask a segment's text and its Whisper words alike, so the words stay aligned with the text.

    Returns (masked text, masked words, kinds found in text order). Words are located one after another; a word
    that cannot be found in the text is masked whole if it holds 4+ digits and anything was redacted.
    """
    masked, spans = redact(text, options)
    kinds = list(dict.fromkeys(kind for _, _, kind in spans))
    out: list[str] = []
    cursor = 0
    for word in words:
        if text.startswith(word, cursor):
            out.append(masked[cursor : cursor + len(word)])
            cursor += len(word)
            continue
        core = word.strip()
        pos = text.find(core, cursor) if core else -1
        if pos >= 0:
            lead = word.index(core)
            out.append(word[:lead] + masked[pos : pos + len(core)] + word[lead + len(core) :])
            cursor = pos + len(core)
        elif spans and len(_digits(word.translate(_TO_ASCII))) >= 4:
            plain = word.translate(_TO_ASCII)
            out.append("".join(options.mask if p.isalnum() else c for c, p in zip(word, plain, strict=True)))
        else:
            out.append(word)
    return masked, out, kinds
