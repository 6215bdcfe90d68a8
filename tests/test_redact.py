"""PII masking of transcripts (service.privacy.redact): every rule, with positive and negative examples."""

from __future__ import annotations

from itertools import pairwise

import pytest

from service.privacy.redact import RedactionOptions, redact, redact_segment


def masked(text: str, **options: object) -> str:
    return redact(text, RedactionOptions(**options))[0]


def kinds(text: str) -> list[str]:
    return [kind for _, _, kind in redact(text)[1]]


# --- cards -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4111 1111 1111 1111", "**** **** **** ****"),
        ("4111-1111-1111-1111", "****-****-****-****"),
        ("4111111111111111", "****************"),
        ("5555555555554444", "****************"),
        ("378282246310005", "***************"),  # 15-digit Amex
        ("my card is 4111 1111 1111 1111.", "my card is **** **** **** ****."),
    ],
)
def test_card_passing_luhn_is_masked(text: str, expected: str) -> None:
    assert masked(text) == expected
    assert kinds(text) == ["card"]


@pytest.mark.parametrize("text", ["4111 1111 1111 1112", "4111-1111-1111-1112", "4111111111111112"])
def test_card_failing_luhn_is_left_whole(text: str) -> None:
    # not a card, and not partly masked as a phone either
    assert redact(text) == (text, [])


def test_card_span_and_neighbouring_short_numbers() -> None:
    text = "order 12345: card 4111 1111 1111 1111"
    out, spans = redact(text)
    assert out == "order 12345: card **** **** **** ****"
    assert spans == [(18, 37, "card")]


# --- Chinese resident ID numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["11010519491231002X", "11010519491231002x", "身份证号11010519491231002X。"])
def test_cn_id_with_valid_check_character(text: str) -> None:
    out, spans = redact(text)
    assert out == text.replace(text[text.index("1") : text.index("1") + 18], "*" * 18)
    assert [kind for *_, kind in spans] == ["cn_id"]  # one whole ID, not half a phone


def test_cn_id_with_wrong_check_character_is_not_an_id() -> None:
    assert "cn_id" not in kinds("110105194912310021")
    assert "cn_id" not in kinds("ID 11010519491231002Y")


# --- phones ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("13812345678", "***********"),
        ("call 13812345678 now", "call *********** now"),
        ("138-1234-5678", "***-****-****"),
        ("138 1234 5678", "*** **** ****"),
        ("+86 138 1234 5678", "+** *** **** ****"),
        ("+8613812345678", "+*************"),
        ("86 13812345678", "** ***********"),
        ("电话是13812345678，谢谢", "电话是***********，谢谢"),
    ],
)
def test_chinese_mobile(text: str, expected: str) -> None:
    assert masked(text) == expected
    assert kinds(text) == ["phone"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+1 (415) 555-0134", "+* (***) ***-****"),
        ("020-8888 6666", "***-**** ****"),
        ("(020) 8888-6666", "(***) ****-****"),
        ("555-0134", "***-****"),
        ("555.123.4567", "***.***.****"),
        ("+44 20 7946 0958", "+** ** **** ****"),
        ("call 555-0134 or 555-0199.", "call ***-**** or ***-****."),
    ],
)
def test_generic_phone(text: str, expected: str) -> None:
    assert masked(text) == expected
    assert set(kinds(text)) == {"phone"}


@pytest.mark.parametrize(
    "text",
    [
        "I called 3 times",
        "order 12345",
        "back in 2024",
        "at 10:30 tomorrow",
        "it cost $1,299.00",
        "it cost 1299999.00",
        "on 2024-05-01",
        "server 192.168.100.1",
        "555-013",  # 6 digits
        "1234 5678 9012 3456 7",  # 17 digits failing Luhn: too long for a phone
    ],
)
def test_short_numbers_dates_times_and_amounts_stay(text: str) -> None:
    assert redact(text) == (text, [])


# --- emails ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("john.doe+x@example.co.uk", "****.***+*@*******.**.**"),
        ("mail me at a_b@mail.example.com.", "mail me at *_*@****.*******.***."),
        ("邮箱是john@example.com谢谢", "邮箱是****@*******.***谢谢"),
    ],
)
def test_email(text: str, expected: str) -> None:
    assert masked(text) == expected
    assert kinds(text) == ["email"]


@pytest.mark.parametrize("text", ["meet me @ the office", "user@localhost", "@handle", "a@b"])
def test_not_an_email(text: str) -> None:
    assert redact(text) == (text, [])


# --- Chinese numerals and full-width digits -------------------------------------------------------------------


def test_chinese_numeral_phone() -> None:
    text = "我的电话是一三八一二三四五六七八"
    out, spans = redact(text)
    assert out == "我的电话是" + "*" * 11
    assert spans == [(5, 16, "phone")]


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("幺三八幺二三四五六七八", "*" * 11, "phone"),
        ("电话一三八〇〇一三八〇〇〇", "电话" + "*" * 11, "phone"),
        ("卡号四" + "一" * 15, "卡号" + "*" * 16, "card"),
        ("一一零一零五一九四九一二三一零零二X", "*" * 18, "cn_id"),
        ("１３８１２３４５６７８", "*" * 11, "phone"),
        ("４１１１ １１１１ １１１１ １１１１", "**** **** **** ****", "card"),
        ("电话１３８－１２３４－５６７８", "电话***－****－****", "phone"),
    ],
)
def test_numerals_and_full_width_digits(text: str, expected: str, kind: str) -> None:
    assert masked(text) == expected
    assert kinds(text) == [kind]


@pytest.mark.parametrize(
    "text", ["我一共打了三次电话", "二零二四年五月一日", "一千二百九十九块", "四" + "一" * 14 + "二"]
)
def test_ordinary_chinese_numbers_stay(text: str) -> None:
    assert redact(text) == (text, [])


# --- options, spans and length ---------------------------------------------------------------------------------

MIXED = "card 4111 1111 1111 1111, phone +1 (415) 555-0134, mail john@example.com, ID 11010519491231002X"


def test_mixed_text_spans_in_order_without_overlap() -> None:
    out, spans = redact(MIXED)
    assert [kind for *_, kind in spans] == ["card", "phone", "email", "cn_id"]
    for (_, end, _), (start, _, _) in pairwise(spans):
        assert end <= start
    for start, end, _ in spans:
        assert all(not c.isalnum() for c in out[start:end])
    assert out.startswith("card **** **** **** ****, phone +* (***) ***-****, mail ****@*******.***, ID ")


@pytest.mark.parametrize(
    ("option", "kind"), [("cards", "card"), ("phones", "phone"), ("emails", "email"), ("cn_ids", "cn_id")]
)
def test_each_kind_can_be_turned_off(option: str, kind: str) -> None:
    _, spans = redact(MIXED, RedactionOptions(**{option: False}))
    found = [k for *_, k in spans]
    assert kind not in found
    assert len(found) == 3


def test_mask_character() -> None:
    assert masked("555-0134", mask="#") == "###-####"
    with pytest.raises(ValueError):
        RedactionOptions(mask="")
    with pytest.raises(ValueError):
        RedactionOptions(mask="**")


@pytest.mark.parametrize(
    "text",
    [
        MIXED,
        "我的电话是一三八一二三四五六七八",
        "１３８１２３４５６７８",
        "",
        "nothing here",
        "+86 138-1234-5678 和 a@b.cn",
    ],
)
def test_length_is_preserved(text: str) -> None:
    out, _ = redact(text)
    assert len(out) == len(text)
    for original, new in zip(text, out, strict=True):
        assert new == original or new == "*"


# --- redact_segment --------------------------------------------------------------------------------------------


def test_segment_words_stay_aligned() -> None:
    text = " my card is 4111 1111 1111 1111."
    words = [" my", " card", " is", " 4111", " 1111", " 1111", " 1111."]
    out, out_words, found = redact_segment(text, words, RedactionOptions())
    assert out == " my card is **** **** **** ****."
    assert out_words == [" my", " card", " is", " ****", " ****", " ****", " ****."]
    assert "".join(out_words) == out
    assert found == ["card"]


def test_segment_words_that_do_not_concatenate_to_the_text() -> None:
    # the text lost its leading space and a word has extra spaces: words are then found by their stripped form
    text = "call 555-0134 now"
    words = [" call", " 555-0134 ", " now"]
    out, out_words, found = redact_segment(text, words, RedactionOptions())
    assert out == "call ***-**** now"
    assert out_words == [" call", " ***-**** ", " now"]
    assert found == ["phone"]


def test_segment_chinese_words() -> None:
    text = "我的电话是一三八一二三四五六七八"
    words = ["我的", "电话", "是", "一三八", "一二三四", "五六七八"]
    out, out_words, found = redact_segment(text, words, RedactionOptions())
    assert out_words == ["我的", "电话", "是", "***", "****", "****"]
    assert "".join(out_words) == out
    assert found == ["phone"]


def test_segment_unlocatable_word_with_digits_is_masked_when_something_was_redacted() -> None:
    text = " card 4111 1111 1111 1111"
    words = [" card", " 4111", " 1111", " 1111", " 1111", " 9876x"]  # the last word is not in the text
    _, out_words, found = redact_segment(text, words, RedactionOptions())
    assert out_words[-1] == " *****"
    assert found == ["card"]


def test_segment_unlocatable_word_is_kept_when_nothing_was_redacted_or_few_digits() -> None:
    _, out_words, found = redact_segment(" order 12345", [" order", " 98765"], RedactionOptions())
    assert out_words == [" order", " 98765"]
    assert found == []
    _, out_words, _ = redact_segment(" call 555-0134", [" call", " 555-0134", " 12x"], RedactionOptions())
    assert out_words == [" call", " ***-****", " 12x"]


def test_segment_kinds_found_once_in_text_order() -> None:
    text = " a@b.com then 555-0134 and c@d.org"
    words = [" a@b.com", " then", " 555-0134", " and", " c@d.org"]
    _, out_words, found = redact_segment(text, words, RedactionOptions())
    assert found == ["email", "phone"]
    assert out_words == [" *@*.***", " then", " ***-****", " and", " *@*.***"]
