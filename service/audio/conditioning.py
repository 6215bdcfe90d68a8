"""Line conditioning for analysis: a copy of each channel's audio cleaned of what the line adds, never the
stored audio (that stays byte-exact as received).

- DC offset (constant or stepping, from gateways and cheap codecs): a 2nd-order Butterworth high-pass at
  `highpass_hz` (40 Hz: below any voice's F0, so Whisper's input keeps the voice; an 80 Hz 4th-order one
  changed a Mandarin transcript), streamed with its
  filter state so chunk boundaries leave no seams. Without it a +0.2 offset reads as a loud, constant
  signal: every window measured 0 dB against the baseline and ~0 syllables/s, and the features went blind.
- Clipping: samples at the codec's full scale are counted (`clipped_s`), so a hot line is visible; the
  features tolerate it (measured: a 6x gain, hard-clipped, changed no alert).

Shapes: (n,) float32 samples at the channel's input rate, in and out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal


@dataclass(frozen=True)
class ConditioningOptions:
    """Analysis-copy conditioning (see Settings)."""

    highpass_hz: float = 40.0
    clip_level: float = 0.97  # |sample| at or above this share of full scale counts as clipped


class LineConditioner:
    """One channel's streaming high-pass and clipping counter."""

    def __init__(self, sample_rate_hz: int, options: ConditioningOptions | None = None) -> None:
        self._opt = options or ConditioningOptions()
        self._rate = sample_rate_hz
        self._sos = scipy.signal.butter(2, self._opt.highpass_hz, "highpass", fs=sample_rate_hz, output="sos")
        self._zi: np.ndarray | None = None
        self.clipped_samples = 0

    @property
    def clipped_s(self) -> float:
        """Seconds of samples at full scale so far (a hot or clipping line)."""
        return self.clipped_samples / self._rate

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Condition the next chunk; returns the same number of float32 samples."""
        x = np.asarray(samples, dtype=np.float64)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        self.clipped_samples += int(np.count_nonzero(np.abs(x) >= self._opt.clip_level))
        if self._zi is None:  # start the filter settled on the first sample: no click at the call's start
            self._zi = scipy.signal.sosfilt_zi(self._sos) * x[0]
        y, self._zi = scipy.signal.sosfilt(self._sos, x, zi=self._zi)
        return y.astype(np.float32)
