"""Streaming resampling to the 16 kHz the speech models expect, one resampler per channel."""

from __future__ import annotations

import numpy as np
import soxr

MODEL_RATE_HZ = 16000


class StreamResampler:
    """Resample a channel chunk by chunk with no seams (soxr keeps its filter state between chunks)."""

    def __init__(self, in_rate_hz: int, out_rate_hz: int = MODEL_RATE_HZ) -> None:
        self._passthrough = in_rate_hz == out_rate_hz
        self._stream = (
            None
            if self._passthrough
            else soxr.ResampleStream(in_rate_hz, out_rate_hz, 1, dtype="float32", quality="HQ")
        )

    def push(self, samples: np.ndarray, *, last: bool = False) -> np.ndarray:
        """Feed float32 samples, shape (n,); returns the resampled samples available so far."""
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        if self._stream is None:
            return samples
        return self._stream.resample_chunk(samples, last=last)
