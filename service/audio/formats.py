"""The audio format a call declares, and decoding of its frames into float samples per channel."""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from service.audio import g711
from service.errors import InvalidInput

MIN_SAMPLE_RATE_HZ = 8000
MAX_SAMPLE_RATE_HZ = 48000
MAX_CHANNELS = 2


class Encoding(enum.Enum):
    """Wire encodings; values match the proto enum names."""

    LINEAR16 = "LINEAR16"
    MULAW = "MULAW"
    ALAW = "ALAW"

    @property
    def bytes_per_sample(self) -> int:
        return 2 if self is Encoding.LINEAR16 else 1


@dataclass(frozen=True)
class AudioFormat:
    """What a client declared for its audio bytes."""

    encoding: Encoding
    sample_rate_hz: int
    channel_count: int

    def __post_init__(self) -> None:
        if not MIN_SAMPLE_RATE_HZ <= self.sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
            raise InvalidInput(
                f"sample_rate_hz={self.sample_rate_hz} is outside {MIN_SAMPLE_RATE_HZ}-{MAX_SAMPLE_RATE_HZ}; "
                "telephony audio is normally 8000"
            )
        if not 1 <= self.channel_count <= MAX_CHANNELS:
            raise InvalidInput(
                f"channel_count={self.channel_count} is not supported; send 1 (mono) or 2 (stereo, "
                "customer and agent on separate channels)"
            )

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample frame: one sample of every channel."""
        return self.encoding.bytes_per_sample * self.channel_count

    @property
    def bytes_per_second(self) -> int:
        return self.frame_bytes * self.sample_rate_hz

    def duration_s(self, n_bytes: int) -> float:
        return n_bytes / self.bytes_per_second

    def check_frame(self, data: bytes, *, max_frame_s: float) -> None:
        """Raise InvalidInput unless `data` is a whole number of sample frames within the size limit."""
        if not data:
            raise InvalidInput("audio frame is empty; send 20-100 ms of audio per frame")
        if len(data) % self.frame_bytes:
            raise InvalidInput(
                f"audio frame of {len(data)} bytes is not a whole number of samples: {self.encoding.value} "
                f"with {self.channel_count} channel(s) needs a multiple of {self.frame_bytes} bytes"
            )
        max_bytes = int(max_frame_s * self.bytes_per_second)
        if len(data) > max_bytes:
            raise InvalidInput(
                f"audio frame of {len(data)} bytes ({self.duration_s(len(data)):.3f} s) is over the limit of "
                f"{max_bytes} bytes ({max_frame_s:g} s); send 20-100 ms frames"
            )

    def decode(self, data: bytes) -> np.ndarray:
        """Encoded bytes -> float32 samples in [-1, 1), shape (n_frames, channel_count)."""
        if self.encoding is Encoding.LINEAR16:
            pcm = np.frombuffer(data, dtype="<i2")
        elif self.encoding is Encoding.MULAW:
            pcm = g711.mulaw_decode(data)
        else:
            pcm = g711.alaw_decode(data)
        return (pcm.astype(np.float32) / 32768.0).reshape(-1, self.channel_count)


def encode_pcm16(samples: np.ndarray, encoding: Encoding) -> bytes:
    """int16 samples (interleaved if multichannel) -> bytes in `encoding`."""
    pcm = np.asarray(samples, dtype=np.int16)
    if encoding is Encoding.LINEAR16:
        return pcm.astype("<i2").tobytes()
    if encoding is Encoding.MULAW:
        return g711.mulaw_encode(pcm)
    return g711.alaw_encode(pcm)
