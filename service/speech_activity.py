"""Speech activity for both analysis paths: Silero VAD, plus the loud voiced speech Silero misses.

Why: Silero VAD (the model faster-whisper bundles) scores shouted speech as non-speech. On telephone RAVDESS
at our 0.3 threshold it covered 0.95 of neutral speech but 0.79 of strong (shouted) anger, one actor 0.10;
in a shouting call it dropped every shouted turn, so nothing scored or transcribed the angriest part of the
call. Neither a level change nor a low-pass in front of Silero fixed it (measured: coverage of strong anger
0.78-0.80 for gains from 0 to -30 dB and a 1.5 kHz low-pass).

`LoudVoiceDetector` adds what a phonetician would call loud voiced speech, on the same 32 ms windows:
- loud: at least `loud_db` above the channel's noise floor (the 10th percentile of the last 10 s of window
  levels) and above `min_level_dbfs`;
- voiced: normalised autocorrelation peak >= `min_periodicity` for F0 between 60 and 900 Hz (hiss fails);
- moving like speech: the median spectral flux over the last 5 windows >= `min_flux_db` (mean absolute
  change of the 300-3400 Hz log spectrum; tones, DTMF, ring-back and hum sit at 0-3 dB, shouting at 6-12),
  and the F0 not frozen (at most half of the last 5 steps under 0.15 st: held notes of hold music are).
Measured on the windows within 20 dB of each signal's loudest (telephone band, 16 kHz): strong-anger
RAVDESS accepted 0.89 by this detector alone; synthetic hold music 0.03, tones, DTMF, ring-back, hum and
band-limited noise 0.00. Up to 5 loud windows (160 ms) after a loud voiced one count too (consonants,
onsets). A window is speech when Silero says so or this detector does, so the probability
handed on is max(Silero's, 1.0 for a loud voiced window).

Shapes: 16 kHz float32 mono in any chunk sizes; one probability per 512-sample (32 ms) window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from service.transcription.vad import SAMPLE_RATE_HZ, WINDOW_SAMPLES, SileroModel, StreamingVad

_N_FFT = 2 * WINDOW_SAMPLES
_HANN = np.hanning(WINDOW_SAMPLES).astype(np.float32)
_LAG_MIN = SAMPLE_RATE_HZ // 900  # shouted speech reaches 600-900 Hz
_LAG_MAX = SAMPLE_RATE_HZ // 60
_BAND = slice(int(300 * WINDOW_SAMPLES / SAMPLE_RATE_HZ), int(3400 * WINDOW_SAMPLES / SAMPLE_RATE_HZ))
_CONTEXT = 5  # windows of context for flux and F0 movement (160 ms)
_FLOOR_EVERY = 16  # windows between noise-floor updates (0.5 s)


@dataclass(frozen=True)
class LoudVoiceOptions:
    """Thresholds of the loud voiced speech detector (see the module docstring for how they were chosen)."""

    enabled: bool = True
    loud_db: float = 15.0
    min_level_dbfs: float = -55.0
    min_periodicity: float = 0.45
    min_flux_db: float = 5.0
    max_frozen_f0_share: float = 0.5
    floor_history_s: float = 10.0
    hangover_windows: int = 5  # loud windows after a loud voiced one that still count (160 ms)


class LoudVoiceDetector:
    """Per-channel state: window levels for the noise floor, the previous spectrum, recent F0 steps."""

    def __init__(self, options: LoudVoiceOptions | None = None) -> None:
        self._opt = options or LoudVoiceOptions()
        n_hist = int(self._opt.floor_history_s * SAMPLE_RATE_HZ / WINDOW_SAMPLES)
        self._levels: deque[float] = deque(maxlen=n_hist)
        self._flux: deque[float] = deque(maxlen=_CONTEXT)
        self._frozen: deque[bool] = deque(maxlen=_CONTEXT)
        self._prev_spec: np.ndarray | None = None
        self._prev_st: float | None = None
        self._hang = 0
        self._prev_voiced = False
        self._floor: float | None = None
        self._since_floor = 0

    def windows(self, windows: np.ndarray) -> np.ndarray:
        """(n, WINDOW_SAMPLES) 16 kHz windows in stream order -> (n,) bool: loud voiced speech."""
        n = len(windows)
        if n == 0:
            return np.zeros(0, dtype=bool)
        frames = windows - windows.mean(axis=1, keepdims=True)
        level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
        spec = np.abs(np.fft.rfft(frames * _HANN, n=_N_FFT)) ** 2
        ac = np.fft.irfft(spec, n=_N_FFT)[:, :WINDOW_SAMPLES]
        ac = ac / (ac[:, :1] + 1e-12)
        lag = _LAG_MIN + np.argmax(ac[:, _LAG_MIN:_LAG_MAX], axis=1)
        rows = np.arange(n)
        periodicity = ac[rows, lag]
        # parabolic interpolation: an integer lag is 4% (0.7 st) coarse at 600 Hz, too coarse to tell a
        # moving voice from a held note
        a, b, c = ac[rows, lag - 1], periodicity, ac[rows, np.minimum(lag + 1, WINDOW_SAMPLES - 1)]
        denom = a - 2 * b + c
        shift = np.where(np.abs(denom) > 1e-9, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
        semitones = 12 * np.log2(SAMPLE_RATE_HZ / (lag + np.clip(shift, -0.5, 0.5)))
        log_spec = 10 * np.log10(spec[:, ::2][:, _BAND] + 1e-10)  # every other bin: the 512-point spectrum
        log_spec = np.maximum(log_spec, log_spec.max(axis=1, keepdims=True) - 50.0)
        out = np.zeros(n, dtype=bool)
        opt = self._opt
        for i in range(n):
            lvl, st = float(level[i]), float(semitones[i])
            self._levels.append(lvl)
            self._since_floor += 1
            if self._since_floor >= _FLOOR_EVERY or self._floor is None:  # a percentile per window cost 40%
                self._floor, self._since_floor = float(np.percentile(self._levels, 10)), 0
            flux = float(np.mean(np.abs(log_spec[i] - self._prev_spec))) if self._prev_spec is not None else 0.0
            frozen = self._prev_st is not None and abs(st - self._prev_st) < 0.15
            self._prev_spec, self._prev_st = log_spec[i], st
            self._flux.append(flux)
            self._frozen.append(frozen)
            loud = opt.enabled and lvl >= max(opt.min_level_dbfs, self._floor + opt.loud_db)
            voiced = (
                loud
                and periodicity[i] >= opt.min_periodicity
                and len(self._flux) == _CONTEXT
                and sorted(self._flux)[_CONTEXT // 2] >= opt.min_flux_db
                and sum(self._frozen) <= opt.max_frozen_f0_share * _CONTEXT
            )
            # two loud voiced windows in a row start loud speech (a single one at a normal voice's onset moved
            # an utterance's start by 32 ms and changed its transcript); consonants and onsets between loud
            # voiced windows after that are still the same loud speech
            confirmed = voiced and self._prev_voiced
            self._prev_voiced = voiced
            self._hang = opt.hangover_windows if confirmed else (self._hang - 1 if loud else 0)
            out[i] = confirmed or self._hang > 0
        return out


class SpeechActivity:
    """Silero VAD and the loud voiced speech detector over the same windows of one channel.

    Windows are scored `batch_windows` at a time (96 ms): one ONNX call and one detector pass per batch
    instead of per window halved the cost of both (bench/emotion_path.py) for at most 96 ms of delay."""

    def __init__(self, model: SileroModel, options: LoudVoiceOptions | None = None, *, batch_windows: int = 3) -> None:
        self._vad = StreamingVad(model)
        self._opt = options or LoudVoiceOptions()
        self._loud = LoudVoiceDetector(self._opt)
        self._batch = batch_windows
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Feed (n,) 16 kHz samples; returns one speech probability per window scored, in order."""
        self._pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        if len(self._pending) < self._batch * WINDOW_SAMPLES:
            return np.zeros(0, dtype=np.float32)
        return self.flush()

    def flush(self) -> np.ndarray:
        """Score every complete window pending now (end of stream)."""
        n = len(self._pending) // WINDOW_SAMPLES
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        audio, self._pending = self._pending[: n * WINDOW_SAMPLES], self._pending[n * WINDOW_SAMPLES :]
        probs = self._vad.push(audio)
        if not self._opt.enabled:
            return probs
        loud = self._loud.windows(audio.reshape(n, WINDOW_SAMPLES))
        return np.where(loud, np.maximum(probs, 1.0), probs).astype(np.float32)
