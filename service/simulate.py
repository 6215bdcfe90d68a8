"""Build simulated calls from recorded speech clips: for tests, benchmarks and demos.

A call is a list of turns (channel, clip audio, start time); the result is the encoded WAV a gateway would
send (8 kHz mu-law stereo by default), band-limited to the 300-3400 Hz telephone band first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt

from service.audio.formats import Encoding
from service.audio.wavfile import WavAudio, from_float


@dataclass(frozen=True)
class Turn:
    channel: int
    start_s: float
    audio: np.ndarray  # mono float32 at the call's sample rate
    text: str = ""

    def end_s(self, sample_rate_hz: int) -> float:
        return self.start_s + len(self.audio) / sample_rate_hz


def telephone_band(audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
    """300-3400 Hz band-pass, as a telephone line passes."""
    sos = butter(4, [300, min(3400, 0.45 * sample_rate_hz)], btype="bandpass", fs=sample_rate_hz, output="sos")
    return sosfiltfilt(sos, audio).astype(np.float32)


def normalise_peak(audio: np.ndarray, peak: float = 0.5) -> np.ndarray:
    top = float(np.max(np.abs(audio))) if len(audio) else 0.0
    return audio if top == 0 else (audio * (peak / top)).astype(np.float32)


def build_call(
    turns: list[Turn],
    *,
    sample_rate_hz: int = 8000,
    channels: int = 2,
    encoding: Encoding = Encoding.MULAW,
    tail_s: float = 1.0,
    band_limit: bool = True,
) -> WavAudio:
    """Place each turn on its channel at its start time; silence elsewhere."""
    end_s = max(t.end_s(sample_rate_hz) for t in turns) + tail_s
    out = np.zeros((int(end_s * sample_rate_hz), channels), dtype=np.float32)
    for t in turns:
        audio = telephone_band(t.audio, sample_rate_hz) if band_limit else t.audio
        start = int(t.start_s * sample_rate_hz)
        out[start : start + len(audio), t.channel] += audio
    return from_float(np.clip(out, -1.0, 1.0), sample_rate_hz, encoding)


def sequential_turns(
    clips: list[tuple[int, np.ndarray, str]], *, sample_rate_hz: int = 8000, gap_s: float = 1.0, lead_s: float = 0.5
) -> list[Turn]:
    """Turns one after the other (a conversation), `gap_s` of silence between them."""
    turns, t = [], lead_s
    for channel, audio, text in clips:
        turns.append(Turn(channel, t, audio, text))
        t += len(audio) / sample_rate_hz + gap_s
    return turns
