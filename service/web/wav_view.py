"""A stored call's audio as a 16-bit PCM WAV file, readable at any byte range without building the file.

Browsers seek with HTTP range requests; G.711 bytes are decoded on the fly (each byte becomes two), so any
range of the WAV maps onto a range of the stored bytes and a long call is never read whole.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from service.audio import g711
from service.audio.formats import AudioFormat, Encoding
from service.errors import InvalidInput
from service.storage.audio_files import AudioStore

HEADER_BYTES = 44
CHUNK_BYTES = 64 * 1024


def wav_header(fmt: AudioFormat, pcm_bytes: int) -> bytes:
    block = 2 * fmt.channel_count
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + pcm_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        fmt.channel_count,
        fmt.sample_rate_hz,
        fmt.sample_rate_hz * block,
        block,
        16,
        b"data",
        pcm_bytes,
    )


def parse_range(header: str | None, total: int) -> tuple[int, int] | None:
    """`Range: bytes=a-b` -> (start, end inclusive), or None for the whole file. One range only."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        raise InvalidInput("only a single `bytes=start-end` range is supported")
    first, _, last = spec.strip().partition("-")
    try:
        if first:
            start = int(first)
            end = int(last) if last else total - 1
        else:  # suffix: the last N bytes
            start, end = max(0, total - int(last)), total - 1
    except ValueError:
        raise InvalidInput(f"range {header[:60]!r} is not `bytes=start-end`") from None
    if start >= total or start > end or start < 0:
        raise RangeNotSatisfiable(total)
    return start, min(end, total - 1)


class RangeNotSatisfiable(InvalidInput):
    def __init__(self, total: int) -> None:
        super().__init__(f"range outside the {total} bytes of this audio")
        self.total = total


@dataclass(frozen=True)
class WavView:
    call_id: str
    format: AudioFormat
    stored_bytes: int  # whole sample frames only
    audio: AudioStore

    @property
    def _expand(self) -> int:
        return 2 // self.format.encoding.bytes_per_sample  # PCM bytes per stored byte

    @property
    def size(self) -> int:
        return HEADER_BYTES + self.stored_bytes * self._expand

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes start..end (inclusive) of the WAV file, in chunks."""
        header = wav_header(self.format, self.stored_bytes * self._expand)
        if start < HEADER_BYTES:
            yield header[start : min(end + 1, HEADER_BYTES)]
            start = HEADER_BYTES
        if end < start:
            return
        # PCM offsets -> stored bytes, widened to whole stored bytes, then trimmed back after decoding.
        pcm_start, pcm_end = start - HEADER_BYTES, end - HEADER_BYTES + 1
        src_start, src_end = pcm_start // self._expand, -(-pcm_end // self._expand)
        skip = pcm_start - src_start * self._expand
        remaining = pcm_end - pcm_start
        for data in self.audio.read(self.call_id, chunk_bytes=CHUNK_BYTES, offset=src_start, limit=src_end - src_start):
            pcm = self._to_pcm(data)[skip : skip + remaining]
            skip = 0
            remaining -= len(pcm)
            if pcm:
                yield pcm
            if remaining <= 0:
                return

    def _to_pcm(self, data: bytes) -> bytes:
        if self.format.encoding is Encoding.LINEAR16:
            return data
        table = g711.MULAW_TO_LINEAR if self.format.encoding is Encoding.MULAW else g711.ALAW_TO_LINEAR
        return table[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()
