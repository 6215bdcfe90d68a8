"""Feature tables for corpora: one row per clip, in two channel conditions (studio at 8 kHz, telephone).

Extraction is cached under var/cache/ keyed by the clip list and the feature code version, so training and
evaluation runs after the first take seconds.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from features.corpus import REPO_ROOT, Clip
from features.prosody import FEATURE_NAMES, FEATURE_RATE_HZ, describe
from features.telephone import degrade

FEATURE_VERSION = "2"
CACHE_DIR = REPO_ROOT / "var" / "cache"

# Our four classes. RAVDESS "calm" counts as neutral; "sad" is the acted proxy for disappointment.
CLASSES: tuple[str, ...] = ("angry", "sad", "neutral", "other")
_CLASS_OF = {"angry": "angry", "sad": "sad", "neutral": "neutral", "calm": "neutral"}


def class_of(emotion: str) -> str:
    return _CLASS_OF.get(emotion, "other")


@dataclass
class FeatureTable:
    clips: list[Clip]
    x: np.ndarray  # (n, len(FEATURE_NAMES))
    condition: str  # "clean" or "telephone"

    @property
    def labels(self) -> np.ndarray:
        return np.array([class_of(c.emotion) for c in self.clips])

    @property
    def speakers(self) -> np.ndarray:
        return np.array([c.speaker for c in self.clips])


def clip_audio(clip: Clip, *, telephone: bool) -> np.ndarray:
    """The clip at FEATURE_RATE_HZ, through a simulated phone line if `telephone`."""
    audio = clip.load(16000)
    if telephone:
        return degrade(audio, 16000, out_rate_hz=FEATURE_RATE_HZ)
    return soxr.resample(audio, 16000, FEATURE_RATE_HZ).astype(np.float32)


def _cache_key(clips: list[Clip], condition: str) -> str:
    h = hashlib.sha256(f"{FEATURE_VERSION}|{condition}|{','.join(FEATURE_NAMES)}".encode())
    for c in clips:
        h.update(str(c.path).encode())
    return h.hexdigest()[:16]


def _cached_rows(
    clips: list[Clip], cache: Path, what: str, row: Callable[[Clip], np.ndarray], progress: bool
) -> np.ndarray:
    """One row per clip from `row`, loaded from `cache` if there, else computed (with progress) and saved."""
    if cache.exists():
        return np.load(cache)
    rows, started = [], time.monotonic()
    for i, clip in enumerate(clips, 1):
        rows.append(row(clip))
        if progress and (i % 100 == 0 or i == len(clips)):
            rate = i / (time.monotonic() - started)
            print(f"  {what}: {i}/{len(clips)} clips, {rate:.1f} clips/s", file=sys.stderr, flush=True)
    x = np.vstack(rows)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.save(cache, x)
    return x


def extract(clips: list[Clip], *, telephone: bool, progress: bool = True) -> FeatureTable:
    condition = "telephone" if telephone else "clean"
    cache = CACHE_DIR / f"features-{condition}-{_cache_key(clips, condition)}.npy"
    x = _cached_rows(
        clips, cache, f"features ({condition})", lambda c: describe(clip_audio(c, telephone=telephone))[0], progress
    )
    return FeatureTable(clips, x, condition)


def extract_embeddings(clips: list[Clip], *, telephone: bool, progress: bool = True) -> np.ndarray:
    """(n, EMBEDDING_DIM) pooled Whisper encoder states per clip (see embedding.py), cached like `extract`."""
    from features.embedding import EMBED_RATE_HZ, EMBEDDING_VERSION, SpeechEncoder
    from features.threads import one_blas_thread

    condition = "telephone" if telephone else "clean"
    cache = CACHE_DIR / f"embeddings-{EMBEDDING_VERSION}-{condition}-{_cache_key(clips, condition)}.npy"
    if cache.exists():
        return np.load(cache)
    one_blas_thread()
    encoder = SpeechEncoder.load()

    def row(clip: Clip) -> np.ndarray:
        audio = soxr.resample(clip_audio(clip, telephone=telephone), FEATURE_RATE_HZ, EMBED_RATE_HZ)
        return encoder.embed(audio.astype(np.float32))

    return _cached_rows(clips, cache, f"embeddings ({condition})", row, progress)
