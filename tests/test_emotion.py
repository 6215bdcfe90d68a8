"""Prosody features on real speech, the shipped emotion model, features.evaluate, and emotion on live calls."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections import defaultdict

import numpy as np
import pytest
from callguard.v1 import callguard_pb2 as pb

from features.baseline import CallNormaliser, CalmToMix, speaker_znorm
from features.dataset import clip_audio
from features.model import MODEL_DIR, EmotionModel, ModelIntegrityError
from features.prosody import FEATURE_NAMES, describe
from features.syllables import count_syllables, speech_rate
from service.audio.wavfile import write_wav
from service.client import StreamOptions, requests_for
from tests.calls import conversation, pick


def test_angry_is_higher_and_louder_than_neutral_for_most_speakers(ravdess) -> None:
    """Same speaker, same sentence, same repetition: angry vs neutral."""
    by_key = defaultdict(dict)
    for clip in ravdess:
        name = clip.path.name.split("-")  # modality-channel-emotion-intensity-statement-repetition-actor
        if clip.emotion in ("angry", "neutral") and name[3] == "01":
            by_key[clip.speaker, name[4], name[5]][clip.emotion] = clip
    pitch_up = louder = total = 0
    for pair in by_key.values():
        if len(pair) < 2:
            continue
        (_, angry), (_, neutral) = (
            describe(clip_audio(pair["angry"], telephone=True)),
            describe(clip_audio(pair["neutral"], telephone=True)),
        )
        total += 1
        pitch_up += angry.pitch_hz > neutral.pitch_hz
        louder += angry.loudness_db > neutral.loudness_db
    assert total >= 80
    assert pitch_up / total >= 0.75 and louder / total >= 0.75, (pitch_up, louder, total)


def test_silence_has_no_speech_features() -> None:
    features, prosody = describe(np.zeros(8000 * 3, dtype=np.float32))
    assert prosody.speech_s == 0 or np.isnan(prosody.pitch_hz)
    assert features.shape == (len(FEATURE_NAMES),)


def test_syllable_counts() -> None:
    assert count_syllables("我要投诉你们领导") == 8
    assert count_syllables("Kids are talking by the door") == 7
    assert count_syllables("I'll complain to your manager") in (8, 9)
    assert speech_rate([(0.0, 0.5, "我要"), (0.5, 1.0, "投诉")]) == pytest.approx(4.0)


def test_speaker_znorm_uses_only_each_speakers_own_rows() -> None:
    speakers = np.array(["a"] * 4 + ["b"] * 3)
    x = np.array([[1.0], [2.0], [3.0], [4.0], [100.0], [110.0], [120.0]])
    z = speaker_znorm(x, speakers)
    assert np.allclose(z[:4, 0], (x[:4, 0] - 2.5) / np.std(x[:4, 0]))
    assert np.allclose(z[4:, 0], [-1.2247449, 0.0, 1.2247449])


def test_call_normaliser_learns_from_the_first_windows_then_freezes() -> None:
    # Two training speakers whose mix is 4 units above their calm speech in feature 0.
    x = np.array(
        [[0.0, 1], [0, 1], [0, 1], [8, 1], [8, 1], [8, 1], [10, 5], [10, 5], [10, 5], [18, 5], [18, 5], [18, 5]]
    )
    speakers = np.array(["a"] * 6 + ["b"] * 6)
    calm = np.array([True] * 3 + [False] * 3 + [True] * 3 + [False] * 3)
    mapping = CalmToMix.fit(x, speakers, calm)
    assert np.allclose(mapping.offset, [4.0, 0.0]) and np.allclose(mapping.population_std[0], 4.0)
    live = CallNormaliser(mapping, n_windows=2)
    live.update(np.array([1.0, np.nan]))
    live.update(np.array([3.0, 2.0]))
    live.update(np.array([100.0, 100.0]))  # frozen once ready: later anger is not the new normal
    assert live.ready and np.allclose(live.calm_mean, [2.0, 2.0])
    assert live.normalise(np.array([6.0, 2.0]))[0] == pytest.approx(0.0)  # calm mean + offset = mix mean
    assert live.normalise(np.array([14.0, 2.0]))[0] == pytest.approx(2.0)  # two typical spreads above


def test_model_loads_with_checksum_and_refuses_a_tampered_file(tmp_path) -> None:
    model = EmotionModel.load()
    assert model.classes == ("angry", "sad", "neutral", "other")
    assert set(model.meta["versions"]) >= {"scikit-learn", "numpy", "librosa", "skops"}
    copy = tmp_path / "model"
    shutil.copytree(MODEL_DIR, copy)
    blob = bytearray((copy / "emotion.skops").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (copy / "emotion.skops").write_bytes(bytes(blob))
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        EmotionModel.load(copy)


def test_evaluate_on_a_small_slice(ravdess, tmp_path) -> None:
    rows = [c for c in ravdess if c.speaker in ("ravdess_21", "ravdess_22")]
    labels = tmp_path / "LABELS.csv"
    with open(labels, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "speaker", "emotion"])
        for c in rows:
            writer.writerow([str(c.path), c.speaker, c.emotion])
    out = tmp_path / "eval.json"
    done = subprocess.run(
        [sys.executable, "-m", "features.evaluate", str(labels), "--telephone", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "anger vs rest" in done.stdout and "utterance view" in done.stdout
    result = json.loads(out.read_text())
    # scored as a call scores an utterance (the view that drives alerts), each clip alone: every clip is scored
    assert result["n"] == len(rows) and result["view"] == "utterance"
    for key in ("anger_vs_rest", "sad_vs_rest"):
        assert 0.0 <= result[key]["uar"] <= 1.0
    assert result["anger_vs_rest"]["auc"] > 0.7  # far above chance even on two voices
    assert len(result["three_class"]["confusion"]) == 3


@pytest.fixture(scope="module")
def switch_call(ravdess):
    """Customer calm for a while, then angry; the agent calm throughout."""
    calm = pick(ravdess, speaker="ravdess_17", emotion="neutral", n=4) + pick(
        ravdess, speaker="ravdess_17", emotion="calm", n=4
    )
    angry = [c for c in ravdess if c.speaker == "ravdess_17" and c.emotion == "angry"][:6]
    agent = pick(ravdess, speaker="ravdess_18", emotion="calm", n=8)
    order = []
    for i, clip in enumerate(calm + angry):
        order.append((0, clip))
        if i < len(agent):
            order.append((1, agent[i]))
    call = conversation(order, gap_s=0.6, keep_levels=True)  # a shout stays louder than calm speech
    switch_s = next(t.start_s for t in call.turns if t.channel == 0 and t.text and t is call.turns[2 * len(calm)])
    return call, switch_s


def test_analyze_shows_anger_rising_on_the_customer_channel(switch_call, tmp_path) -> None:
    call, switch_s = switch_call
    wav = tmp_path / "switch.wav"
    write_wav(wav, call.audio)
    done = subprocess.run(
        [sys.executable, "-m", "service.cli.main", "analyze", str(wav), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["call"]["channels"][0]["role"] == "customer"
    emotions = [e for e in out["events"] if e["type"] == "emotion"]
    assert all({"type", "channel", "role", "start_s", "end_s", "anger", "disappointment"} <= set(e) for e in emotions)
    before = [e["anger"] for e in emotions if e["channel"] == 0 and e["end_s"] < switch_s]
    after = [e["anger"] for e in emotions if e["channel"] == 0 and e["start_s"] > switch_s]
    agent = [e["anger"] for e in emotions if e["channel"] == 1]
    assert len(before) >= 6 and len(after) >= 6 and agent
    assert np.mean(after) > np.mean(before) + 0.3, (np.mean(before), np.mean(after))
    assert np.mean(after) > np.mean(agent) + 0.3
    transcripts = [e for e in out["events"] if e["type"] == "transcript"]
    assert {e["channel"] for e in transcripts} == {0, 1}


def test_live_stream_emits_emotion_about_once_per_second_of_speech_and_none_in_silence(stub, ravdess) -> None:
    from service.simulate import Turn, build_call

    clips = pick(ravdess, speaker="ravdess_19", emotion="neutral", n=2)
    first, second = (c.load(8000) for c in clips)
    gap_start = 0.5 + len(first) / 8000
    turns = [Turn(0, 0.5, first), Turn(0, gap_start + 12.0, second)]  # 12 s of silence between them
    audio = build_call(turns, channels=1)
    events = list(stub.StreamCall(requests_for(audio, StreamOptions(language="en")), timeout=300))
    emotions = [e.emotion for e in events if e.WhichOneof("event") == "emotion"]
    assert emotions and all(e.channel == 0 and e.role == pb.CUSTOMER for e in emotions)
    assert all(abs(e.anger + e.disappointment + e.neutral + e.other - 1) < 1e-4 for e in emotions)
    in_silence = [e for e in emotions if e.start_s > gap_start + 0.5 and e.end_s < gap_start + 11.5]
    assert not in_silence
    speech_s = (len(first) + len(second)) / 8000 - 2.0  # each clip has about 1 s of leading/trailing silence
    assert 0.5 * speech_s <= len(emotions) <= 1.5 * speech_s + 2
    assert all(e.prosody.pitch_hz > 50 and 0 <= e.prosody.pause_ratio <= 1 for e in emotions)
    call = stub.GetCall(pb.GetCallRequest(call_id=events[0].accepted.call_id))
    assert len(call.emotions) == len(emotions)  # stored for QA
