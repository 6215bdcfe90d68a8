"""Streaming VAD and the utterance endpointer, on real speech."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper.vad import get_vad_model

from service.transcription.utterances import UtteranceOptions, UtteranceSegmenter
from service.transcription.vad import SileroModel, StreamingVad

RATE = 16000


@pytest.fixture(scope="module")
def model() -> SileroModel:
    return SileroModel()


def speech_extent(audio: np.ndarray) -> tuple[float, float]:
    """First and last 10 ms frame within 30 dB of the clip's loudest frame: where the speech is."""
    frames = audio[: len(audio) // 160 * 160].reshape(-1, 160)
    db = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    loud = np.nonzero(db > db.max() - 30)[0]
    return loud[0] * 0.01, (loud[-1] + 1) * 0.01


def push_in_frames(seg: UtteranceSegmenter, audio: np.ndarray, frame: int = 320) -> list:
    out = []
    for i in range(0, len(audio), frame):
        out += seg.push(audio[i : i + frame])
    return out + seg.finish()


def test_streaming_probabilities_equal_whole_file_ones(model, ravdess) -> None:
    audio = np.concatenate([c.load(RATE) for c in ravdess[:3]])
    whole = np.asarray(get_vad_model()(np.pad(audio, (0, 512 - len(audio) % 512)))).reshape(-1)
    vad = StreamingVad(model)
    streamed = np.concatenate([vad.push(audio[i : i + 333]) for i in range(0, len(audio), 333)])
    assert len(streamed) == len(audio) // 512
    np.testing.assert_allclose(streamed, whole[: len(streamed)], atol=1e-5)


def test_utterances_match_where_people_speak(model, ravdess, casia) -> None:
    clips = [ravdess[0], casia[0], ravdess[100], casia[300]]
    gap = np.zeros(int(1.5 * RATE), np.float32)
    parts, truth, t = [gap], [], len(gap) / RATE
    for clip in clips:
        audio = clip.load(RATE)
        start, end = speech_extent(audio)
        truth.append((t + start, t + end))
        parts += [audio, gap]
        t += (len(audio) + len(gap)) / RATE
    utterances = push_in_frames(UtteranceSegmenter(model), np.concatenate(parts))
    assert len(utterances) == len(clips)
    for utt, (start, end) in zip(utterances, truth, strict=True):
        assert abs(utt.start_s - start) < 0.4 and abs(utt.end_s - end) < 0.4
        # with its padding, the audio handed to the recogniser covers (almost) all of the speech
        audio_end_s = utt.audio_start_s + len(utt.audio) / RATE
        assert utt.audio_start_s <= start + 0.2 and audio_end_s >= end - 0.2


def test_silence_and_noise_make_no_utterances(model) -> None:
    rng = np.random.default_rng(0)
    silence = np.zeros(5 * RATE, np.float32)
    hiss = (0.01 * rng.standard_normal(5 * RATE)).astype(np.float32)
    hum = (0.05 * np.sin(2 * np.pi * 50 * np.arange(5 * RATE) / RATE)).astype(np.float32)
    for audio in (silence, hiss, hum):
        assert push_in_frames(UtteranceSegmenter(model), audio) == []


def test_long_speech_is_cut_at_the_maximum_length(model, ravdess) -> None:
    # ~10 s of back-to-back speech with the clips' own silences trimmed to short pauses
    pieces = []
    for clip in ravdess[:6]:
        audio = clip.load(RATE)
        start, end = speech_extent(audio)
        pieces += [audio[int(start * RATE) : int(end * RATE)], np.zeros(int(0.15 * RATE), np.float32)]
    audio = np.concatenate(pieces)
    options = UtteranceOptions(max_utterance_s=4.0)
    utterances = push_in_frames(UtteranceSegmenter(model, options), audio)
    assert len(utterances) >= 2
    assert all(u.duration_s <= 4.0 + 1e-6 for u in utterances)
    covered = sum(u.duration_s for u in utterances)
    assert covered > 0.8 * len(audio) / RATE  # cutting does not lose the speech between pieces


def test_skip_closes_the_utterance_and_moves_the_clock(model, ravdess) -> None:
    seg = UtteranceSegmenter(model)
    audio = ravdess[0].load(RATE)
    out = seg.push(audio[: int(2.5 * RATE)])  # stop mid-sentence
    out += seg.skip(RATE * 10)
    assert len(out) == 1 and out[0].end_s <= 2.5 + 1e-6
    assert seg.position_s == pytest.approx(12.5, abs=0.05)


def test_quiet_speech_after_a_long_silence_is_heard_as_after_a_short_one(model, casia) -> None:
    """Silero's state drifts over a long stretch without speech (a caller on hold, a muted line): a quiet
    (-29 dBFS peak) telephone Mandarin sentence after 27.5 s of silence peaked at P(speech) 0.27 (unheard)
    against 0.80 after 3 s. The state is reset after 2 s without speech, so both are heard alike."""
    import soxr

    from features.telephone import degrade

    clip = next(c for c in casia if c.emotion == "neutral" and c.speaker != casia[0].speaker)
    speech = degrade(clip.load(RATE), RATE, out_rate_hz=8000)
    speech = soxr.resample(speech * (10 ** (-29 / 20) / np.abs(speech).max()), 8000, RATE).astype(np.float32)
    peaks = {}
    for lead_s in (3.0, 27.5):
        audio = np.concatenate([np.zeros(int(lead_s * RATE), np.float32), speech])
        vad = StreamingVad(model)
        probs = np.concatenate([vad.push(audio[i : i + 320]) for i in range(0, len(audio), 320)])
        peaks[lead_s] = float(probs[int(lead_s * RATE) // 512 :].max())
        assert vad.resets >= 1
    assert peaks[27.5] >= 0.6 and abs(peaks[27.5] - peaks[3.0]) < 0.15, peaks
