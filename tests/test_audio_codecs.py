"""G.711 codecs, frame validation and WAV files."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import soundfile as sf

from service.audio import g711
from service.audio.formats import AudioFormat, Encoding
from service.audio.wavfile import from_float, read_wav, write_wav
from service.errors import InvalidInput

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # removed in Python 3.13; the reference implementation where present
    except ImportError:
        audioop = None

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int16)


@pytest.mark.skipif(audioop is None, reason="audioop (the reference G.711 coder) is gone from this Python")
@pytest.mark.parametrize(
    ("encode", "decode", "ref_encode", "ref_decode"),
    [
        (g711.mulaw_encode, g711.mulaw_decode, "lin2ulaw", "ulaw2lin"),
        (g711.alaw_encode, g711.alaw_decode, "lin2alaw", "alaw2lin"),
    ],
)
def test_g711_matches_reference_for_every_input(encode, decode, ref_encode, ref_decode) -> None:
    assert encode(ALL_INT16) == getattr(audioop, ref_encode)(ALL_INT16.tobytes(), 2)
    every_code = bytes(range(256))
    assert decode(every_code).tobytes() == getattr(audioop, ref_decode)(every_code, 2)


@pytest.mark.parametrize(
    ("encode", "decode"), [(g711.mulaw_encode, g711.mulaw_decode), (g711.alaw_encode, g711.alaw_decode)]
)
def test_g711_round_trip_error_is_within_companding_step(encode, decode) -> None:
    decoded = decode(encode(ALL_INT16)).astype(np.int32)
    error = np.abs(decoded - ALL_INT16.astype(np.int32))
    # companding: relative error a few percent for large values, small absolute error near zero
    assert np.all(error <= np.maximum(64, np.abs(ALL_INT16.astype(np.int32)) // 16))
    assert np.all(decode(encode(decode(bytes(range(256))))) == decode(bytes(range(256))))  # decode∘encode is stable


def test_frame_validation_messages() -> None:
    fmt = AudioFormat(Encoding.LINEAR16, 8000, 2)
    fmt.check_frame(b"\x00" * 640, max_frame_s=1.0)  # 20 ms stereo PCM16
    with pytest.raises(InvalidInput, match=r"not a whole number of samples.*multiple of 4 bytes"):
        fmt.check_frame(b"\x00" * 642, max_frame_s=1.0)
    with pytest.raises(InvalidInput, match="empty"):
        fmt.check_frame(b"", max_frame_s=1.0)
    with pytest.raises(InvalidInput, match="over the limit of 32000 bytes"):
        fmt.check_frame(b"\x00" * 32004, max_frame_s=1.0)


@pytest.mark.parametrize(("rate", "channels", "message"), [(4000, 1, "sample_rate_hz"), (8000, 3, "channel_count")])
def test_format_rejects_unsupported(rate: int, channels: int, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        AudioFormat(Encoding.MULAW, rate, channels)


def test_decode_deinterleaves_stereo() -> None:
    left = np.full(10, 1000, dtype=np.int16)
    right = np.full(10, -2000, dtype=np.int16)
    data = np.stack([left, right], 1).ravel().astype("<i2").tobytes()
    samples = AudioFormat(Encoding.LINEAR16, 8000, 2).decode(data)
    assert samples.shape == (10, 2)
    assert np.allclose(samples[:, 0], 1000 / 32768) and np.allclose(samples[:, 1], -2000 / 32768)


@pytest.mark.parametrize("encoding", list(Encoding))
def test_wav_round_trip_is_byte_exact_and_readable_by_libsndfile(tmp_path, encoding: Encoding) -> None:
    t = np.arange(8000) / 8000
    audio = from_float(
        np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 300 * t)], 1), 8000, encoding
    )
    path = tmp_path / "call.wav"
    write_wav(path, audio)
    assert read_wav(path) == audio
    decoded, rate = sf.read(path, always_2d=True)  # an independent reader agrees on format and content
    assert rate == 8000 and decoded.shape == (8000, 2)
    assert np.max(np.abs(decoded[:, 0] - 0.5 * np.sin(2 * np.pi * 440 * t))) < 0.02


def test_read_wav_converts_other_pcm_to_16_bit(tmp_path) -> None:
    path = tmp_path / "float.wav"
    sf.write(path, np.full(1600, 0.25, dtype=np.float32), 16000, subtype="FLOAT")
    audio = read_wav(path)
    assert audio.format == AudioFormat(Encoding.LINEAR16, 16000, 1)
    assert np.allclose(np.frombuffer(audio.data, "<i2"), 8192, atol=1)


def test_read_wav_rejects_non_wav(tmp_path) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(b"ID3 not a wave file")
    with pytest.raises(InvalidInput, match="not a RIFF/WAVE"):
        read_wav(path)


@pytest.mark.parametrize("encoding", list(Encoding))
@pytest.mark.parametrize("riff_size, data_size", [(0, 0), (0xFFFFFFFF, 0xFFFFFFFF), (0, 10**9)])
def test_wav_with_unfinalised_header_is_read_to_the_end(tmp_path, encoding, riff_size, data_size) -> None:
    """A recorder killed before finalising the header leaves sizes of 0 (or 0xFFFFFFFF, or too large):
    read to the end of the file, as sox and libsndfile do, never an empty recording."""
    rng = np.random.default_rng(3)
    audio = from_float(0.3 * rng.standard_normal((8000, 2)), 8000, encoding)
    path = tmp_path / "ok.wav"
    write_wav(path, audio)
    blob = bytearray(path.read_bytes())
    data_at = blob.index(b"data")
    blob[4:8] = riff_size.to_bytes(4, "little")
    blob[data_at + 4 : data_at + 8] = data_size.to_bytes(4, "little")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(bytes(blob))
    assert read_wav(broken) == audio


def test_wav_without_audio_is_refused(tmp_path) -> None:
    path = tmp_path / "empty.wav"
    write_wav(path, from_float(np.zeros((0, 1)), 8000, Encoding.LINEAR16))
    with pytest.raises(InvalidInput, match="holds no audio"):
        read_wav(path)
