"""The words model: what it reads (normalisation robust to what Whisper writes), the shipped models' integrity,
and the scoring command people use to measure it outside the service."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from features.text_emotion.corpora import HEADS
from features.text_emotion.model import MODEL_DIR, TextEmotionModel, TextModelError
from features.text_emotion.normalise import normalise, pinyin


@pytest.mark.parametrize(
    ("raw", "language", "expected"),
    [
        ("//@小明:气死我了！！#快递#[怒] http://t.cn/xx", "zh", "气死我了"),  # Weibo markup a call never has
        ("我要投訴你們領導！", "zh", "我要投诉你们领导"),  # Whisper writes Traditional at times
        ("第3次打电话了", "zh", "第三次打电话了"),  # and digits or Chinese numerals
        ("第 三 次 打 电话了。", "zh", "第三次打电话了"),
        ("This is the 3rd time I'm calling!!! 😡", "en", "this is the third time i'm calling"),
        ("I called 25 times", "en", "i called 25 times"),
        ("Ｉ'M  SO  ANGRY.", "en", "i'm so angry"),
    ],
)
def test_text_is_read_the_way_whisper_writes_it(raw: str, language: str, expected: str) -> None:
    assert normalise(raw, language) == expected


def test_pinyin_keeps_the_sound_of_homophone_errors() -> None:
    assert pinyin(normalise("太让人失望了", "zh")) == "tai rang ren shi wang le"
    assert pinyin("施望") == pinyin("失望")  # a homophone error Whisper makes reads the same in the pinyin view


@pytest.fixture(scope="module")
def zh() -> TextEmotionModel:
    return TextEmotionModel.load("zh")


def test_spelling_variants_whisper_produces_score_the_same(zh: TextEmotionModel) -> None:
    variants = ["我已经打了三次电话了！", "我已经打了3次电话了", "我已經打了三次電話了", "我 已经 打了 三次 电话 了"]
    p = zh.probabilities(variants)
    assert np.allclose(p, p[0], atol=1e-6)


def test_explicit_anger_and_calm_thanks_are_told_apart_with_the_words_behind_them(zh: TextEmotionModel) -> None:
    angry = zh.score("你们这是什么破服务，简直气死我了", explain=("anger",))
    calm = zh.score("好的，那我再等等，谢谢")
    assert angry.probabilities["anger"] > zh.line("anger") > calm.probabilities["anger"]
    assert calm.probabilities["neutral"] > 0.5
    assert any("气死" in d.text or "破服务" in d.text for d in angry.drivers["anger"])


def test_a_model_file_that_does_not_match_its_sidecar_is_refused(tmp_path) -> None:
    for name in ("text_emotion_en.json", "text_emotion_en.npz"):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    with open(tmp_path / "text_emotion_en.npz", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(TextModelError, match="SHA-256"):
        TextEmotionModel.load("en", tmp_path)
    with pytest.raises(TextModelError, match="missing"):
        TextEmotionModel.load("zh", tmp_path)


def test_the_scoring_command_reads_lines_and_writes_one_json_object_each() -> None:
    lines = "I am so disappointed with your service\n\nI don't understand what you mean\nthank you so much\n"
    out = subprocess.run(
        [sys.executable, "-m", "features.text_emotion", "--language", "en", "--explain"],
        input=lines, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 4 and rows[1] == {}  # one per input line, empty for an empty one
    assert all(set(HEADS) <= set(r) for r in (rows[0], rows[2], rows[3]))
    assert rows[0]["disappointment"] > 0.8 and "disappointed" in " ".join(rows[0]["drivers"]["disappointment"])
    assert rows[2]["confusion"] > 0.8 and rows[3]["neutral"] > 0.8
    bad = subprocess.run([sys.executable, "-m", "features.text_emotion", "--language", "zh", "--model-dir", "/nonexistent"],
                         input="你好\n", capture_output=True, text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "missing" in bad.stderr and "features.text_emotion.train" in bad.stderr
