"""One channel's live analysis, from decoded samples to utterances (for transcription) and emotion estimates.

    samples (input rate) -> LineConditioner (analysis copy: DC removed, clipping counted)
        -> StreamResampler (16 kHz) -> UtteranceSegmenter (SpeechActivity: Silero + loud voiced speech)
        -> utterances for Whisper
        -> ChannelEmotion (8 kHz windows, gated by the same speech activity) -> emotion estimates

The live call (service/session.py), `callguard analyze` and the escalation benchmark all run this class, so
what a benchmark measures is what a call does.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from features.model import EmotionModel
from service.audio.conditioning import LineConditioner
from service.audio.resample import MODEL_RATE_HZ, StreamResampler
from service.emotion import ChannelEmotion, EmotionEstimate, EmotionOptions
from service.judgement.judge import UtteranceContext
from service.transcription.utterances import Utterance, UtteranceOptions, UtteranceSegmenter
from service.transcription.vad import SileroModel

RECENT_ESTIMATES = 40  # window estimates kept for the utterance judgement (an utterance is at most 15 s)


class ChannelAnalysis:
    """Analysis state of one channel; used by one thread at a time."""

    def __init__(
        self,
        in_rate_hz: int,
        *,
        vad_model: SileroModel,
        emotion_model: EmotionModel,
        utterance_options: UtteranceOptions | None = None,
        emotion_options: EmotionOptions | None = None,
    ) -> None:
        self._in_rate_hz = in_rate_hz
        self.conditioner = LineConditioner(in_rate_hz)  # analysis copy only; storage has the bytes as received
        self.resampler = StreamResampler(in_rate_hz)
        self.segmenter = UtteranceSegmenter(vad_model, utterance_options)
        self.emotion = ChannelEmotion(emotion_model, in_rate_hz, emotion_options or EmotionOptions())
        self.recent: deque[EmotionEstimate] = deque(maxlen=RECENT_ESTIMATES)

    def push(self, samples: np.ndarray) -> tuple[list[Utterance], list[EmotionEstimate]]:
        """(n,) float32 samples at the input rate -> utterances ended and estimates made by them."""
        samples = self.conditioner.push(samples)
        utterances = self.segmenter.push(self.resampler.push(samples))
        estimates = self.emotion.push(samples, self.segmenter.speech_s)
        self.recent.extend(estimates)
        return utterances, estimates

    def context(self, utt: Utterance) -> UtteranceContext:
        """What the utterance judgement needs from this channel's analysis when `utt` ended: the speaker's
        baseline (a copy: the judgement runs in another thread) and the window estimates over its time (those
        whose last second is inside the utterance)."""
        base = self.emotion.baseline
        windows = windows_over(self.recent, utt.start_s, utt.end_s)
        return UtteranceContext(base.calm_mean.copy() if base.has_windows else None, windows)

    def finish(self) -> list[Utterance]:
        return self.segmenter.push(self.resampler.push(np.zeros(0, np.float32), last=True)) + self.segmenter.finish()

    def skip(self, n_frames: int) -> list[Utterance]:
        """Analysis lost `n_frames` input frames: close the utterance and restart the resampler after the gap."""
        self.resampler = StreamResampler(self._in_rate_hz)
        self.emotion.skip(n_frames, self._in_rate_hz)
        return self.segmenter.skip(round(n_frames * MODEL_RATE_HZ / self._in_rate_hz))


WINDOWS_AFTER_END_S = 0.25  # < min_silence_s - speech_pad_s (0.3): see windows_over


def windows_over(estimates: Iterable[EmotionEstimate], start_s: float, end_s: float) -> tuple[EmotionEstimate, ...]:
    """The window estimates that speak for an utterance of [start_s, end_s]: those ending inside it (the first
    half second is left out: a window ending there is mostly earlier audio) or within WINDOWS_AFTER_END_S after
    it. The endpointer ends an utterance min_silence_s (0.5) after its speech and end_s includes speech_pad_s
    (0.2), so every window this selects exists when the utterance ends, whatever the chunk sizes: the judgement
    does not depend on how the audio was cut into messages."""
    return tuple(e for e in estimates if start_s + 0.5 < e.end_s <= end_s + WINDOWS_AFTER_END_S)
