"""Masking personal data in transcripts before they are stored, streamed back or exported.

Speech recognition writes numbers as digits, full-width digits or Chinese numerals ("一三八…"), so detection
runs on a parallel string where each of those characters is one ASCII digit, and masking is applied to the
original characters. Masks keep the length (separators stay), so word timings still line up with the text.

Not every long number is personal: QA needs the order id and the tracking number the customer read out. A
run of digits that could be a phone or a card is told apart by what was said just before it (订单号 / order
number keeps it, 手机 / phone masks it: the nearest label wins), by its shape (an amount or a date), and for
unlabelled numbers by whether it can be a phone number at all in the configured regions (`phonenumbers`, the
Python port of Google's libphonenumber: possible length and prefix). A mobile-shaped number (1[3-9] + 9
digits) and a Luhn-valid card with a card label or none are always masked.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import phonenumbers

from service.transcription.results import Segment

KINDS = ("cards", "phones", "emails", "cn_ids")
_NUMERALS = {c: str(i) for i, c in enumerate("零一二三四五六七八九")} | {"〇": "0", "幺": "1", "两": "2"}
_NUMERALS |= {chr(0xFF10 + i): str(i) for i in range(10)}  # full-width digits

_SEP = r"[ \-.]"
_CARD = re.compile(rf"(?<![\dA-Za-z])\d(?:{_SEP}?\d){{12,18}}(?![\dA-Za-z])")
_CN_ID = re.compile(r"(?<![\dA-Za-z])\d{17}[\dXx](?![\dA-Za-z])")
_CN_MOBILE = re.compile(rf"(?<![\d+])(?:\+?86{_SEP}?)?1[3-9]\d{_SEP}?\d{{4}}{_SEP}?\d{{4}}(?!\d)")
# A phone number is a whole run of digit groups, never a piece of a longer run (say, a card that failed Luhn).
_PHONE = re.compile(
    rf"(?<![\dA-Za-z])(?<!\d[ .\-])(?:\+\d{{1,3}}{_SEP}?)?(?:\(\d{{1,4}}\){_SEP}?)?\d[\d \-.]{{5,16}}\d"
    rf"(?![\dA-Za-z])(?![ .\-]\d)"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
PHONE_REGIONS = ("CN", "US")  # where an unlabelled number is checked for being a possible phone number
_LABEL_REACH = 16  # characters before a number searched for what it is
# What the speaker called the number. Keep: ids QA needs. Mask: contact and payment numbers.
_KEEP_LABELS = ("订单", "订单号", "订单号码", "单号", "单号码", "快递", "运单", "物流", "编号", "工单", "发票", "金额",
                "型号", "序列号", "order", "tracking", "reference", "ref", "invoice", "case", "ticket", "serial",
                "parcel", "package", "confirmation")  # fmt: skip
_MASK_LABELS = ("手机", "电话", "号码", "联系方式", "座机", "微信", "卡号", "银行卡", "信用卡", "身份证", "尾号", "phone",
                "mobile", "cell", "call me", "reach me", "text me", "card", "account")  # fmt: skip
_AMOUNT_OR_DATE_AFTER = re.compile(r"\s*(块|元|圆|毛|角|万|千|百|亿|年|月|日|号|点|分|%|percent|dollars?|yuan|rmb)")
_CURRENCY_BEFORE = re.compile(r"[$¥￥€£]\s*$")


@dataclass(frozen=True)
class RedactionOptions:
    kinds: tuple[str, ...] = KINDS  # any of cards, phones, emails, cn_ids
    mask: str = "*"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        n = int(d) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def cn_id_ok(text: str) -> bool:
    """ISO 7064 MOD 11-2 check character of an 18-character resident ID."""
    check = "10X98765432"[sum(int(c) * w for c, w in zip(text[:17], _ID_WEIGHTS, strict=True)) % 11]
    return text[17].upper() == check


def _digits(match: str) -> str:
    return re.sub(r"\D", "", match)


def label_before(plain: str, start: int) -> str:
    """ "keep", "mask" or "" from the label said nearest before a number at `start` (the longest label when two
    end at the same place: 订单号码 is an order id, 号码 alone a phone)."""
    window = plain[max(0, start - _LABEL_REACH) : start].lower()
    best: tuple[int, int, str] = (-1, 0, "")
    for labels, verdict in ((_KEEP_LABELS, "keep"), (_MASK_LABELS, "mask")):
        for label in labels:
            at = window.rfind(label)
            if at >= 0 and (at + len(label), len(label)) > best[:2]:
                best = (at + len(label), len(label), verdict)
    return best[2]


def amount_or_date(plain: str, start: int, end: int) -> bool:
    """The number is a sum of money or a date/time by the words around it (444块, ¥4400, 2026年)."""
    return bool(_AMOUNT_OR_DATE_AFTER.match(plain, end) or _CURRENCY_BEFORE.search(plain[:start]))


def possible_phone(digits: str, regions: tuple[str, ...] = PHONE_REGIONS) -> bool:
    """Whether `digits` (with or without a leading + and country code) can be a phone number in one of
    `regions`: its length and prefix are possible there (phonenumbers.is_possible_number)."""
    for region in regions:
        try:
            if phonenumbers.is_possible_number(phonenumbers.parse(digits, region)):
                return True
        except phonenumbers.NumberParseException:
            continue
    return False


def find(text: str, kinds: tuple[str, ...] = KINDS) -> list[tuple[int, int, str]]:
    """(start, end, kind) of the personal data in `text`, without overlaps."""
    plain = "".join(_NUMERALS.get(c, c) for c in text)
    spans: list[tuple[int, int, str]] = []

    def add(pattern: re.Pattern[str], kind: str, accept=lambda m: True) -> None:  # type: ignore[no-untyped-def]
        for m in pattern.finditer(plain):
            if accept(m) and not any(m.start() < e and s < m.end() for s, e, _ in spans):
                spans.append((m.start(), m.end(), kind))

    def card(m: re.Match[str]) -> bool:
        digits = _digits(m.group(0))
        return 13 <= len(digits) <= 19 and luhn_ok(digits) and label_before(plain, m.start()) != "keep"

    def phone(m: re.Match[str]) -> bool:
        s, digits = m.group(0), _digits(m.group(0))
        if not 7 <= len(digits) <= 15 or re.fullmatch(r"\d{1,3}(,\d{3})+", s):
            return False
        label = label_before(plain, m.start())
        if label:
            return label == "mask"
        if amount_or_date(plain, m.start(), m.end()):
            return False
        return possible_phone(("+" if s.startswith("+") else "") + digits)

    if "cn_ids" in kinds:
        add(_CN_ID, "cn_id", lambda m: cn_id_ok(m.group(0)))
    if "phones" in kinds:
        add(_CN_MOBILE, "phone")
    if "cards" in kinds:
        add(_CARD, "card", card)
    if "phones" in kinds:
        add(_PHONE, "phone", phone)
    if "emails" in kinds:
        add(_EMAIL, "email")
    return sorted(spans)


def redact(text: str, options: RedactionOptions = RedactionOptions()) -> tuple[str, list[tuple[int, int, str]]]:
    """The text with every detected item's letters and digits masked (length kept), and what was masked."""
    spans = find(text, options.kinds)
    if not spans:
        return text, []
    chars = list(text)
    for start, end, _ in spans:
        for i in range(start, end):
            if chars[i].isalnum():
                chars[i] = options.mask
    return "".join(chars), spans


def redact_words(text: str, words: list[str], masked: str) -> list[str]:
    """Mask each word where the text was masked: words are found in the text in order (Whisper's words
    usually concatenate to the text); a word that cannot be found is masked if it holds 4+ digits."""
    out, pos = [], 0
    for word in words:
        core = word.strip()
        at = text.find(core, pos) if core else -1
        if at < 0:
            out.append(re.sub(r"[\dA-Za-z]", "*", word) if len(_digits(word)) >= 4 else word)
            continue
        lead = word.find(core)
        piece = masked[at : at + len(core)]
        out.append(word[:lead] + piece + word[lead + len(core) :])
        pos = at + len(core)
    return out


def redact_segment(seg: Segment, kinds: tuple[str, ...] = KINDS) -> Segment:
    """A transcript segment with its text and words masked (the same segment when nothing was found)."""
    if not kinds:
        return seg
    masked, spans = redact(seg.text, RedactionOptions(kinds=kinds))
    if not spans:
        return seg
    words = redact_words(seg.text, [w.text for w in seg.words], masked)
    return dataclasses.replace(
        seg, text=masked, words=tuple(dataclasses.replace(w, text=t) for w, t in zip(seg.words, words, strict=True))
    )
