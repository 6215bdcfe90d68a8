"""Cut one channel's audio into utterances from streaming VAD probabilities (an endpointer).

Speech probabilities come from `SpeechActivity` (Silero VAD plus the loud voiced speech it misses), the one
place that decides "someone is talking" for transcription and for the emotion gate (`speech_s`).
Hysteresis like Silero's own: a window at or above `threshold` starts or continues speech, one below
`neg_threshold` starts counting silence, and `min_silence_s` of it ends the utterance. Long utterances are
cut at `max_utterance_s` (at the last short pause if there was one) so a monologue still yields text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from service.speech_activity import LoudVoiceOptions, SpeechActivity
from service.transcription.vad import SAMPLE_RATE_HZ, WINDOW_SAMPLES, SileroModel


@dataclass(frozen=True)
class UtteranceOptions:
    """Endpointing parameters (see Settings for their meaning and defaults)."""

    threshold: float = 0.3
    neg_threshold: float = 0.15
    min_silence_s: float = 0.5
    min_speech_s: float = 0.25
    speech_pad_s: float = 0.2
    max_utterance_s: float = 15.0
    loud_voice: LoudVoiceOptions = field(
        default_factory=LoudVoiceOptions
    )  # shouting Silero misses (service/speech_activity.py)


@dataclass(frozen=True)
class Utterance:
    """Speech on one channel. `audio` (16 kHz float32) starts at `audio_start_s` and includes padding."""

    start_s: float
    end_s: float
    audio_start_s: float
    audio: np.ndarray

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class UtteranceSegmenter:
    """Push a channel's 16 kHz audio; get finished utterances back as soon as each one ends."""

    def __init__(self, model: SileroModel, options: UtteranceOptions | None = None) -> None:
        self._opt = options or UtteranceOptions()
        self._model = model
        self._vad = SpeechActivity(model, self._opt.loud_voice)
        self._pad = int(self._opt.speech_pad_s * SAMPLE_RATE_HZ)
        self._min_silence = int(self._opt.min_silence_s * SAMPLE_RATE_HZ)
        self._min_speech = int(self._opt.min_speech_s * SAMPLE_RATE_HZ)
        self._max_len = int(self._opt.max_utterance_s * SAMPLE_RATE_HZ)
        self._origin = 0  # stream sample index of the first window not yet judged by VAD
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # stream sample index of self._buf[0]
        self._speech_start: int | None = None
        self._silence_start: int | None = None
        self._last_pause: int | None = None  # start of the latest short pause inside the utterance
        self._marks: deque[int] = deque(maxlen=int(30 * SAMPLE_RATE_HZ / WINDOW_SAMPLES))  # recent speech windows
        # Told about every VAD window: (start s, length s, speech with the endpointer's hysteresis). The
        # conversation dynamics (service/dynamics) count talk from the same decisions the transcript uses.
        self.on_window: Callable[[float, float, bool], None] | None = None

    @property
    def position_s(self) -> float:
        return self._origin / SAMPLE_RATE_HZ

    def push(self, samples: np.ndarray) -> list[Utterance]:
        """Feed samples (n,) at 16 kHz in stream order."""
        self._buf = np.concatenate([self._buf, np.asarray(samples, dtype=np.float32)])
        return self._judge(self._vad.push(samples))

    def _judge(self, probs: np.ndarray) -> list[Utterance]:
        out: list[Utterance] = []
        for prob in probs:
            out.extend(self._step(float(prob), self._origin))
            speech = prob >= self._opt.threshold or (self._speech_start is not None and prob >= self._opt.neg_threshold)
            if speech:
                self._marks.append(self._origin)  # speech with the endpointer's hysteresis
            if self.on_window is not None:
                self.on_window(self._origin / SAMPLE_RATE_HZ, WINDOW_SAMPLES / SAMPLE_RATE_HZ, speech)
            self._origin += WINDOW_SAMPLES
        self._trim()
        return out

    def finish(self) -> list[Utterance]:
        """End of stream: close the utterance in progress, if any."""
        out = self._judge(self._vad.flush())
        if self._speech_start is None:
            return out
        end = self._silence_start if self._silence_start is not None else self._buf_start + len(self._buf)
        return out + self._emit(self._speech_start, end)

    def skip(self, n_samples: int) -> list[Utterance]:
        """Audio was lost to analysis (shed): close any utterance and jump the clock past the gap."""
        out = self.finish()
        self._speech_start = self._silence_start = self._last_pause = None
        self._vad = SpeechActivity(self._model, self._opt.loud_voice)
        self._origin = self._buf_start + len(self._buf) + n_samples
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = self._origin
        return out

    def speech_s(self, start_s: float, end_s: float) -> float:
        """Seconds of VAD speech between two call times (within the last 30 s)."""
        a, b = start_s * SAMPLE_RATE_HZ, end_s * SAMPLE_RATE_HZ
        return sum(1 for w in self._marks if a <= w < b) * WINDOW_SAMPLES / SAMPLE_RATE_HZ

    def partial(self) -> Utterance | None:
        """The utterance in progress so far (for interim transcripts), or None in silence."""
        if self._speech_start is None:
            return None
        return self._slice(self._speech_start, self._origin)

    def _step(self, prob: float, window_start: int) -> list[Utterance]:
        opt = self._opt
        window_end = window_start + WINDOW_SAMPLES
        if self._speech_start is None:
            if prob >= opt.threshold:
                self._speech_start, self._silence_start, self._last_pause = window_start, None, None
            return []
        if prob >= opt.threshold:
            if self._silence_start is not None:
                self._last_pause = self._silence_start
            self._silence_start = None
        elif prob < opt.neg_threshold and self._silence_start is None:
            self._silence_start = window_start
        if self._silence_start is not None and window_end - self._silence_start >= self._min_silence:
            return self._emit(self._speech_start, self._silence_start)
        if window_end - self._speech_start >= self._max_len:
            cut = self._last_pause if self._last_pause and self._last_pause > self._speech_start else window_end
            out = self._emit(self._speech_start, cut)
            self._speech_start = cut if prob >= opt.neg_threshold or cut < window_end else None
            return out
        return []

    def _emit(self, start: int, end: int) -> list[Utterance]:
        self._speech_start = self._silence_start = self._last_pause = None
        if end - start < self._min_speech:
            return []
        return [self._slice(start, end)]

    def _slice(self, start: int, end: int) -> Utterance:
        a = max(start - self._pad, self._buf_start)
        b = min(end + self._pad, self._buf_start + len(self._buf))
        audio = self._buf[a - self._buf_start : b - self._buf_start].copy()
        return Utterance(start / SAMPLE_RATE_HZ, end / SAMPLE_RATE_HZ, a / SAMPLE_RATE_HZ, audio)

    def _trim(self) -> None:
        """Keep only what a future utterance can still need: from its start (or now) minus the padding."""
        keep_from = (self._speech_start if self._speech_start is not None else self._origin) - self._pad
        drop = keep_from - self._buf_start
        if drop > 0:
            self._buf = self._buf[drop:]
            self._buf_start += drop
