"""Degrade studio speech the way a phone line does: 8 kHz, 300-3400 Hz band, G.711 mu-law. Reproducible."""

from __future__ import annotations

import numpy as np
import soxr

from service.audio import g711
from service.simulate import telephone_band

PHONE_RATE_HZ = 8000


def degrade(audio: np.ndarray, sample_rate_hz: int, *, out_rate_hz: int | None = None) -> np.ndarray:
    """float32 mono at `sample_rate_hz` -> telephone-quality float32 at `out_rate_hz` (default: the input rate)."""
    narrow = soxr.resample(np.asarray(audio, np.float32), sample_rate_hz, PHONE_RATE_HZ)
    narrow = telephone_band(narrow, PHONE_RATE_HZ)
    pcm = np.clip(np.round(narrow * 32767), -32768, 32767).astype(np.int16)
    decoded = g711.mulaw_decode(g711.mulaw_encode(pcm)).astype(np.float32) / 32768.0
    rate = out_rate_hz or sample_rate_hz
    return decoded if rate == PHONE_RATE_HZ else soxr.resample(decoded, PHONE_RATE_HZ, rate).astype(np.float32)
