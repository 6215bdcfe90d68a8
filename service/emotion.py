"""Live emotion estimates per channel: every second of speech, score the last few seconds. Runs in the call's
analysis thread on the audio as it arrives; it never waits for transcription (the transcript's speech rate is
attached to transcript segments instead).

Two views (features/model.py): the absolute view needs no baseline, the relative view judges against the
speaker's own calm baseline. Only windows the absolute view does not call angry enter the baseline, so a
caller who is angry from the first word does not become their own calm reference, and the baseline is built
from their calm windows whenever those come. What is reported:
- no window in the baseline yet (nothing calm heard): the absolute view alone, held below 0.5 (it is not
  reliable enough on unseen voices to page anyone by itself; it keeps anger out of the baseline);
- a thin baseline (fewer than `baseline_windows`): both views must agree (the mean of their logits), so one
  view's slip on an unusual voice does not page anyone;
- a full baseline: the relative view (more accurate: features.train, speaker protocol).
Disappointment is judged against the speaker's calm voice only, so it reads 0 until the baseline is ready."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import soxr
from scipy.special import expit, logit

from features.baseline import BASELINE_WINDOWS, CallNormaliser
from features.dataset import CLASSES
from features.embedding import EMBED_RATE_HZ
from features.model import EmotionModel
from features.prosody import FEATURE_NAMES, FEATURE_RATE_HZ, describe
from service.audio.resample import StreamResampler

_F0 = FEATURE_NAMES.index("f0_median_st")
_LOUD = FEATURE_NAMES.index("loud_median_db")
_RANGE = FEATURE_NAMES.index("f0_range_st")


@dataclass(frozen=True)
class EmotionOptions:
    """When and over what an estimate is made (see Settings)."""

    window_s: float = 3.0
    hop_s: float = 1.0
    min_speech_s: float = 0.5  # of VAD speech in the window
    baseline_windows: int = BASELINE_WINDOWS
    # The Whisper-encoder part of the features is recomputed every `embed_hop_s` (over the current window)
    # and reused by the estimates in between: encoding 3 s costs ~0.07 CPU-s, so every second would triple
    # the emotion path's cost (bench/emotion_path.py).
    embed_hop_s: float = 3.0
    baseline_max_anger: float = 0.5  # windows the absolute view scores at or above this stay out of the baseline
    # The absolute view alone may not page anyone: on a calm Mandarin voice it saw in training it still said
    # 0.85-0.93 for the first sentence (line-faults case), which raised a false MEDIUM alert at 2 s.
    absolute_only_max: float = 0.45


@dataclass(frozen=True)
class EmotionEstimate:
    start_s: float
    end_s: float
    anger: float
    disappointment: float
    neutral: float
    other: float
    pitch_hz: float
    pitch_st_vs_baseline: float
    loudness_db_vs_baseline: float
    speech_rate_sps: float
    pause_ratio: float
    pitch_range_st: float
    baseline_ready: bool


def _finite(x: float) -> float:
    return float(x) if np.isfinite(x) else 0.0


def _shares(heads: np.ndarray) -> tuple[float, float, float, float]:
    """One-vs-rest head probabilities -> (anger, disappointment, neutral, other) summing to 1.

    Anger and disappointment keep their own heads' probabilities (0.5 is each head's decision point, which
    alert thresholds are set against); if together they pass 1 they are scaled down to share it. The
    remainder is split between neutral and other in proportion to their heads."""
    anger, sad, neutral, other = (float(v) for v in heads)
    if anger + sad > 1.0:
        total = anger + sad
        return anger / total, sad / total, 0.0, 0.0
    rest = 1.0 - anger - sad
    share = neutral / (neutral + other) if neutral + other > 0 else 0.5
    return anger, sad, rest * share, rest * (1.0 - share)


class ChannelEmotion:
    """Keeps the last `window_s` of one channel at 8 kHz and scores it every `hop_s` of call time."""

    def __init__(self, model: EmotionModel, in_rate_hz: int, options: EmotionOptions) -> None:
        self._model = model
        self._opt = options
        self._resampler = StreamResampler(in_rate_hz, FEATURE_RATE_HZ)
        self._window = int(options.window_s * FEATURE_RATE_HZ)
        self._keep = self._window + 2 * FEATURE_RATE_HZ  # the window plus room for a late hop inside a chunk
        self._buf = np.zeros(0, dtype=np.float32)
        self._pos = 0  # samples at 8 kHz since the start of the call
        self._next_hop = int(options.hop_s * FEATURE_RATE_HZ)
        self.baseline = CallNormaliser(model.calm_to_mix, n_windows=options.baseline_windows)
        self._embedding: np.ndarray | None = None
        self._embedded_at_s = -np.inf

    def push(self, samples: np.ndarray, speech_s: Callable[[float, float], float]) -> list[EmotionEstimate]:
        """Feed input-rate samples; `speech_s(start_s, end_s)` says how much VAD speech a range holds."""
        out = self._resampler.push(samples)
        self._buf = np.concatenate([self._buf, out])[-self._keep :]
        self._pos += len(out)
        estimates = []
        while self._pos >= self._next_hop:
            end_s = self._next_hop / FEATURE_RATE_HZ
            self._next_hop += int(self._opt.hop_s * FEATURE_RATE_HZ)
            start_s = max(0.0, end_s - self._opt.window_s)
            if speech_s(end_s - self._opt.hop_s, end_s) <= 0 or speech_s(start_s, end_s) < self._opt.min_speech_s:
                continue  # silence, or too little speech to say anything: no estimate
            lag = self._pos - int(end_s * FEATURE_RATE_HZ)
            audio = self._buf[max(0, len(self._buf) - lag - self._window) : len(self._buf) - lag]
            estimate = self._score(audio, start_s, end_s)
            if estimate is not None:
                estimates.append(estimate)
        return estimates

    def skip(self, n_in_samples: int, in_rate_hz: int) -> None:
        """Audio lost to analysis: restart the window after the gap, and score again only once a whole
        window of new audio is in (a shorter stretch cut out of the middle of speech has fewer pauses, so
        it reads louder than the baseline and raised false anger after a gap)."""
        self._resampler = StreamResampler(in_rate_hz, FEATURE_RATE_HZ)
        self._buf = np.zeros(0, dtype=np.float32)
        self._pos += round(n_in_samples * FEATURE_RATE_HZ / in_rate_hz)
        self._next_hop = self._pos + self._window

    def _embed(self, audio: np.ndarray, end_s: float) -> np.ndarray:
        if self._embedding is None or end_s - self._embedded_at_s >= self._opt.embed_hop_s - 1e-6:
            wideband = soxr.resample(audio, FEATURE_RATE_HZ, EMBED_RATE_HZ).astype(np.float32)
            self._embedding = self._model.encoder.embed(wideband)
            self._embedded_at_s = end_s
        return self._embedding

    def _score(self, audio: np.ndarray, start_s: float, end_s: float) -> EmotionEstimate | None:
        prosody_vec, prosody = describe(audio)
        if prosody.speech_s < self._opt.min_speech_s or not np.isfinite(prosody_vec[_LOUD]):
            return None
        features = np.concatenate([prosody_vec, self._embed(audio, end_s)])
        absolute = self._model.absolute_probabilities(features)
        if absolute[0, CLASSES.index("angry")] < self._opt.baseline_max_anger:
            self.baseline.update(features)
        if self.baseline.ready:
            heads = self._model.live_probabilities(self.baseline.normalise(features), self.baseline.vs_calm(features))
        elif self.baseline.has_windows:  # a thin baseline: both views must agree (mean of their logits)
            relative = self._model.probabilities(self.baseline.normalise(features))
            heads = expit((logit(np.clip(absolute, 1e-6, 1 - 1e-6)) + logit(np.clip(relative, 1e-6, 1 - 1e-6))) / 2)
            heads[:, CLASSES.index("sad")] = 0.0  # disappointment is judged against the calm baseline only
        else:  # nothing calm heard yet: the absolute view alone, held under any alert line
            heads = absolute.copy()
            heads[:, CLASSES.index("angry")] = np.minimum(heads[:, CLASSES.index("angry")], self._opt.absolute_only_max)
            heads[:, CLASSES.index("sad")] = 0.0
        base = self.baseline.calm_mean if self.baseline.has_windows else features
        anger, sad, neutral, other = _shares(heads[0])
        return EmotionEstimate(
            start_s=start_s,
            end_s=end_s,
            anger=anger,
            disappointment=sad,
            neutral=neutral,
            other=other,
            pitch_hz=_finite(prosody.pitch_hz),
            pitch_st_vs_baseline=_finite(features[_F0] - base[_F0]),
            loudness_db_vs_baseline=_finite(features[_LOUD] - base[_LOUD]),
            speech_rate_sps=_finite(prosody.speech_rate_sps),
            pause_ratio=_finite(prosody.pause_ratio),
            pitch_range_st=_finite(features[_RANGE]),
            baseline_ready=self.baseline.ready,
        )
