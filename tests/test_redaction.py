"""PII masking of transcripts: what must be masked, what must stay, numerals, alignment of words."""

from __future__ import annotations

import pytest

from service.redaction import RedactionOptions, cn_id_ok, luhn_ok, redact, redact_segment, redact_words
from service.transcription.results import Segment, Word


@pytest.mark.parametrize(
    ("text", "kind", "secret"),
    [
        ("my card is 4111 1111 1111 1111 thanks", "card", "4111 1111 1111 1111"),
        ("card 5500-0000-0000-0004 please", "card", "5500-0000-0000-0004"),
        ("身份证号11010519491231002X", "cn_id", "11010519491231002X"),
        ("call me on 138 1234 5678", "phone", "138 1234 5678"),
        ("手机号+86 13812345678", "phone", "+86 13812345678"),
        ("the office is +1 (415) 555-0134", "phone", "+1 (415) 555-0134"),
        ("座机 020-8888 6666", "phone", "020-8888 6666"),
        ("extension 555-0134", "phone", "555-0134"),
        ("write to john.doe+x@example.co.uk today", "email", "john.doe+x@example.co.uk"),
        ("我的电话是一三八一二三四五六七八", "phone", "一三八一二三四五六七八"),
        ("number １３８１２３４５６７８ ok", "phone", "１３８１２３４５６７８"),
    ],
)
def test_personal_data_is_masked_and_length_kept(text: str, kind: str, secret: str) -> None:
    masked, spans = redact(text)
    assert len(masked) == len(text) and kind in {k for _, _, k in spans}
    start = text.index(secret)
    hidden = masked[start : start + len(secret)]
    assert not any(c.isdigit() or c in "一二三四五六七八九零〇" for c in hidden.replace("X", "")), hidden
    assert masked[:start] == text[:start]  # the rest is untouched


@pytest.mark.parametrize(
    "text",
    [
        "I called 3 times about order 12345",
        "since 2024 at 10:30",
        "it cost $1,299.00",
        "card 4111 1111 1111 1112 is not a valid number",  # fails Luhn
        "我第三次打电话了",
        "110105194912310021 has a wrong check digit",
        "call 12315 now",
    ],
)
def test_ordinary_numbers_stay(text: str) -> None:
    assert redact(text) == (text, [])


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert cn_id_ok("11010519491231002X") and not cn_id_ok("110105194912310021")


def test_kinds_can_be_switched_off() -> None:
    text = "mail a@b.com or call 13812345678"
    masked, spans = redact(text, RedactionOptions(kinds=("emails",)))
    assert [k for _, _, k in spans] == ["email"] and "13812345678" in masked
    assert redact(text, RedactionOptions(kinds=()))[0] == text


def test_words_stay_aligned_with_the_masked_text() -> None:
    text = " my card is 4111 1111 1111 1111."
    words = [" my", " card", " is", " 4111", " 1111", " 1111", " 1111."]
    masked, _ = redact(text)
    out = redact_words(text, words, masked)
    assert "".join(out) == masked and out[:3] == words[:3] and out[-1] == " ****."


def test_segments_are_masked_text_and_words_alike() -> None:
    words = (Word(1.0, 1.3, " 请", 0.9), Word(1.3, 2.9, " 13812345678", 0.8), Word(2.9, 3.2, "。", 0.9))
    seg = Segment(1.0, 3.2, " 请 13812345678。", "zh", 0.99, -0.2, words)
    out = redact_segment(seg)
    assert out.text == " 请 ***********。" and [w.text for w in out.words] == [" 请", " ***********", "。"]
    assert [(w.start_s, w.end_s) for w in out.words] == [(w.start_s, w.end_s) for w in words]
    assert redact_segment(seg, ()) is seg and redact_segment(Segment(0, 1, "hello", "en", 1, 0, ())).text == "hello"
