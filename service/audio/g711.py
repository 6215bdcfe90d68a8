"""G.711 mu-law and A-law codecs (ITU-T G.711), vectorised with numpy.

Decoding uses the standard 256-entry tables; encoding follows the reference segment search. Python's
`audioop` did this until 3.13 removed it, so we keep our own (and test it against audioop where present).
"""

from __future__ import annotations

import numpy as np

_MULAW_BIAS = 0x84
_MULAW_CLIP = 32635


def _build_mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _MULAW_BIAS) << exponent) - _MULAW_BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0,
        (mantissa << 4) + 8,
        ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0),
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


MULAW_TO_LINEAR = _build_mulaw_table()
ALAW_TO_LINEAR = _build_alaw_table()


def mulaw_decode(data: bytes | np.ndarray) -> np.ndarray:
    """mu-law bytes -> int16 samples, shape (n,)."""
    return MULAW_TO_LINEAR[np.frombuffer(data, dtype=np.uint8)]


def alaw_decode(data: bytes | np.ndarray) -> np.ndarray:
    """A-law bytes -> int16 samples, shape (n,)."""
    return ALAW_TO_LINEAR[np.frombuffer(data, dtype=np.uint8)]


def _segment(value: np.ndarray, *, first_bound: int) -> np.ndarray:
    """Index of the G.711 segment (0-7) holding `value` (non-negative), segment 0 ending at first_bound."""
    bounds = first_bound * (2 ** np.arange(8)) - 1
    return np.minimum(np.searchsorted(bounds, value, side="left"), 7)


def mulaw_encode(samples: np.ndarray) -> bytes:
    """int16 samples -> mu-law bytes (on the 14-bit magnitude, as the reference coder does)."""
    x = np.asarray(samples, dtype=np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _MULAW_CLIP >> 2) + (_MULAW_BIAS >> 2)
    exponent = _segment(magnitude, first_bound=0x40)
    mantissa = (magnitude >> (exponent + 1)) & 0x0F
    code = ((exponent << 4) | mantissa) ^ mask
    return code.astype(np.uint8).tobytes()


def alaw_encode(samples: np.ndarray) -> bytes:
    """int16 samples -> A-law bytes."""
    x = np.asarray(samples, dtype=np.int32)
    sign = np.where(x >= 0, 0x80, 0x00)
    magnitude = np.where(x >= 0, x, -x - 1) >> 3  # 13-bit magnitude
    magnitude = np.minimum(magnitude, 0x0FFF)
    exponent = _segment(magnitude, first_bound=0x20)
    mantissa = np.where(exponent < 2, magnitude >> 1, magnitude >> exponent) & 0x0F
    code = (sign | (exponent << 4) | mantissa) ^ 0x55
    return code.astype(np.uint8).tobytes()
