"""WAV files holding telephony audio: read the encoded bytes as they are, write them back unchanged.

A media gateway sends G.711 bytes as they came off the wire, so the stream client must send a mu-law WAV's
bytes untouched rather than decode and re-encode them. Python's `wave` module only reads PCM, hence this
small RIFF reader/writer. PCM that is not 16-bit (8/24/32-bit, float) is converted to 16-bit.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from service.audio.formats import AudioFormat, Encoding, encode_pcm16
from service.errors import InvalidInput

log = logging.getLogger(__name__)

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_IEEE_FLOAT = 0x0003
_WAVE_FORMAT_ALAW = 0x0006
_WAVE_FORMAT_MULAW = 0x0007
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


@dataclass(frozen=True)
class WavAudio:
    """A WAV file's audio as encoded bytes (interleaved) plus their format."""

    format: AudioFormat
    data: bytes

    @property
    def duration_s(self) -> float:
        return self.format.duration_s(len(self.data))


_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # what recorders write before they finalise the header (or while streaming)


def _chunks(blob: bytes, path: str | Path) -> dict[bytes, bytes]:
    """The file's chunks by id (the first of each). A data chunk whose size is unknown (0 or 0xFFFFFFFF, a
    recorder killed before it finalised the header) or runs past the end of the file is read to the end of
    the file, as sox and libsndfile do; that is logged, since the recording may end mid-sample."""
    if len(blob) < 12 or blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise InvalidInput(f"{path}: not a RIFF/WAVE file")
    chunks: dict[bytes, bytes] = {}
    pos = 12
    while pos + 8 <= len(blob):
        cid, size = struct.unpack_from("<4sI", blob, pos)
        if cid == b"data" and (size in _UNKNOWN_SIZES or pos + 8 + size > len(blob)):
            body = blob[pos + 8 :]
            log.warning(
                "%s: the WAV header gives the audio size as %d bytes; read %d bytes to the end of the file",
                path, size, len(body),
            )  # fmt: skip
            chunks.setdefault(cid, body)
            break
        chunks.setdefault(cid, blob[pos + 8 : pos + 8 + size])
        pos += 8 + size + (size & 1)
    return chunks


def read_wav(path: str | Path) -> WavAudio:
    """Read a WAV file. G.711 and 16-bit PCM are returned byte for byte; other PCM becomes 16-bit."""
    blob = Path(path).read_bytes()
    chunks = _chunks(blob, path)
    if b"fmt " not in chunks or b"data" not in chunks:
        raise InvalidInput(f"{path}: WAV file has no fmt or data chunk")
    if len(chunks[b"fmt "]) < 16:
        raise InvalidInput(f"{path}: WAV fmt chunk is {len(chunks[b'fmt '])} bytes, under the 16 it needs")
    fmt = chunks[b"fmt "]
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]
    data = chunks[b"data"]
    if channels == 0 or len(data) < channels * max(1, bits // 8):
        raise InvalidInput(f"{path}: the WAV file holds no audio (its data chunk is {len(data)} bytes)")
    if tag == _WAVE_FORMAT_MULAW:
        return WavAudio(AudioFormat(Encoding.MULAW, rate, channels), data)
    if tag == _WAVE_FORMAT_ALAW:
        return WavAudio(AudioFormat(Encoding.ALAW, rate, channels), data)
    if tag == _WAVE_FORMAT_PCM and bits == 16:
        usable = len(data) - len(data) % (2 * channels)
        return WavAudio(AudioFormat(Encoding.LINEAR16, rate, channels), data[:usable])
    if tag in (_WAVE_FORMAT_PCM, _WAVE_FORMAT_IEEE_FLOAT):
        # read as float: libsndfile does not scale float files when asked for int16 directly
        samples, rate = sf.read(io.BytesIO(blob), dtype="float32", always_2d=True)
        return from_float(samples, rate, Encoding.LINEAR16)
    raise InvalidInput(f"{path}: WAV format tag 0x{tag:04x} is not supported; use PCM, mu-law or A-law")


def read_recording(path: str | Path) -> WavAudio:
    """Read a call recording: a WAV file as `read_wav` does (G.711 bytes untouched), anything else libsndfile
    reads (FLAC, OGG/Opus, AIFF, MP3, ...) decoded to 16-bit PCM at its own rate and channel count.

    Raises InvalidInput for a missing, empty or unreadable file, saying how to convert it."""
    path = Path(path)
    with path.open("rb") as f:
        head = f.read(12)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return read_wav(path)
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InvalidInput(
            f"{path}: not a recording this tool can read ({exc}); WAV, FLAC, OGG, AIFF and MP3 are read, for "
            f"anything else convert first, e.g. `ffmpeg -i {path.name} -ac 1 -ar 8000 -acodec pcm_s16le call.wav`"
        ) from exc
    if samples.size == 0:
        raise InvalidInput(f"{path}: the recording holds no audio")
    return from_float(samples, rate, Encoding.LINEAR16)


def write_wav(path: str | Path, audio: WavAudio) -> None:
    """Write encoded bytes into a WAV file without re-encoding them."""
    fmt = audio.format
    tag = {
        Encoding.LINEAR16: _WAVE_FORMAT_PCM,
        Encoding.MULAW: _WAVE_FORMAT_MULAW,
        Encoding.ALAW: _WAVE_FORMAT_ALAW,
    }[fmt.encoding]
    bits = 8 * fmt.encoding.bytes_per_sample
    fmt_body = struct.pack(
        "<HHIIHH", tag, fmt.channel_count, fmt.sample_rate_hz, fmt.bytes_per_second, fmt.frame_bytes, bits
    )
    body = b"WAVE"
    if tag == _WAVE_FORMAT_PCM:
        body += b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    else:  # non-PCM formats carry cbSize and a fact chunk (sample frames per channel)
        fmt_body += struct.pack("<H", 0)
        n_frames = len(audio.data) // fmt.frame_bytes
        body += b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
        body += b"fact" + struct.pack("<II", 4, n_frames)
    body += b"data" + struct.pack("<I", len(audio.data)) + audio.data
    if len(audio.data) & 1:
        body += b"\x00"
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def from_float(samples: np.ndarray, sample_rate_hz: int, encoding: Encoding) -> WavAudio:
    """float samples in [-1, 1], shape (n,) or (n, channels) -> encoded WavAudio."""
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64).T).T
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    return WavAudio(AudioFormat(encoding, sample_rate_hz, pcm.shape[1]), encode_pcm16(pcm.ravel(), encoding))
