"""The utterance view of the voice: how one whole utterance sounded, from what transcription already computes.

Transcription runs Whisper's encoder over each utterance, brought to one level and padded to its decode window
(30 s, or the busy window under load). Those states, mean-pooled over the utterance's speech, describe
the whole utterance; joined with its prosody (features/prosody.py, at 8 kHz like every other prosody here)
they are the voice input of the utterance judgement (service/judgement/). Reusing the decode's encoder
output costs no second encoder pass (CTranslate2's `generate` accepts encoder output: see
service/transcription/whisper.py).

Shapes: `encoder_output` is (1, n_enc, EMBEDDING_DIM) or (n_enc, EMBEDDING_DIM) float32, one row per 20 ms;
`content_mel_frames` counts 10 ms mel frames of real audio; audio is float32 mono at 16 kHz.
Source: Radford et al. 2022 (Whisper); the pooled-encoder idea follows the issue's measurement on corpora we
do not have (utterance padded to 30 s, mean over real frames, logistic regression).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import soxr

from features.embedding import EMBEDDING_DIM, pool, speech_frames
from features.prosody import FEATURE_NAMES, FEATURE_RATE_HZ, Prosody, describe

UTTERANCE_RATE_HZ = 16000
MEL_FRAMES_PER_STATE = 2  # the encoder's stride-2 convolution: one state per 20 ms
# Whisper's encoder states move with their position in the window and with what else the window holds:
# ravdess_21's shouted sentences read anger 0.62-0.80 each as the endpointer cuts them, 0.09 as two joined in
# one 4.9 s utterance (the later sentence's states at cosine 0.43-0.56 of its own). The model learnt from single
# sentences (~2-3 s of speech plus PAD_S either side), so an utterance longer than VOICE_PIECE_S is heard in
# phrases cut at its pauses, each trimmed to its speech, padded as the endpointer pads, and encoded on its own
# with the 6 s window (PIECE_WINDOW_S: the cheapest the model reads as well, model card "trained 30 s, scored
# on 6 s states").
VOICE_PIECE_S = 3.5
PIECE_WINDOW_S = 6.0
_MIN_PIECE_S = 1.2  # a phrase shorter than this joins the next one
_PAUSE_S = 0.12  # quiet this long between words is a place to cut
_QUIET_DB = (
    40.0  # a 20 ms frame this far under the utterance's loudest is quiet (librosa trim's top_db, as the training cut)
)
_PAD_S = 0.2  # as the endpointer pads (UtteranceOptions.speech_pad_s) and the training cut (utterance_dataset)
_FRAME = 320  # 20 ms at 16 kHz


@dataclass(frozen=True)
class VoicePiece:
    """The encoder states of one stretch of an utterance, pooled over its speech: samples [start, end) of the
    16 kHz utterance, `pooled` (EMBEDDING_DIM,) float32."""

    start: int
    end: int
    pooled: np.ndarray


def piece_bounds(audio16k: np.ndarray, max_s: float = VOICE_PIECE_S) -> list[tuple[int, int]]:
    """[start, end) sample ranges of the phrases a 16 kHz utterance is heard in: the whole of it up to `max_s`
    seconds; longer, split in two at its longest pause (20 ms frames 40 dB under its loudest; at the quietest
    frame if it has none) leaving at least 1.2 s either side, again until every phrase is within `max_s`; each
    phrase trimmed to its speech and padded 0.2 s either side (within the utterance)."""
    n = len(audio16k)
    frames = n // _FRAME
    if n <= max_s * UTTERANCE_RATE_HZ or frames < 2:
        return [(0, n)]
    x = np.asarray(audio16k[: frames * _FRAME], np.float64).reshape(frames, _FRAME)
    db = 10 * np.log10(np.mean(x**2, axis=1) + 1e-12)
    quiet = db < db.max() - _QUIET_DB
    per_s = UTTERANCE_RATE_HZ / _FRAME
    min_len, max_len = round(_MIN_PIECE_S * per_s), round(max_s * per_s)
    # length of the quiet run each frame is in, so the middle of the longest pause is the argmax
    run = np.zeros(frames)
    i = 0
    while i < frames:
        j = i
        while j < frames and quiet[j] == quiet[i]:
            j += 1
        if quiet[i]:
            run[i:j] = (j - i) - np.abs(np.arange(i, j) - (i + j - 1) / 2) / frames  # ties: the middle
        i = j

    def split(a: int, b: int) -> list[int]:
        if b - a <= max_len:
            return [a]
        lo, hi = a + min_len, b - min_len
        if hi <= lo:
            return [a]
        cut = lo + int(np.argmax(run[lo:hi])) if run[lo:hi].max() > 0 else lo + int(np.argmin(db[lo:hi]))
        return split(a, cut) + split(cut, b)

    cuts = [*split(0, frames), frames]
    pad = round(_PAD_S * per_s)
    out = []
    for a, b in itertools.pairwise(cuts):
        loud = np.flatnonzero(~quiet[a:b])
        lo, hi = (a + int(loud[0]), a + int(loud[-1]) + 1) if len(loud) else (a, b)
        out.append((max(0, lo - pad) * _FRAME, n if hi + pad >= frames else (hi + pad) * _FRAME))
    return out


def pool_encoder_output(encoder_output: np.ndarray, content_mel_frames: int, audio16k: np.ndarray) -> np.ndarray:
    """Mean of the encoder states of the utterance's speech: the states that cover its own audio (the window's
    padding left out) and, of those, the 20 ms frames within 35 dB of its loudest (features.embedding.
    speech_frames). Pooling over silence too made the pooled vector depend on how much silence the cut kept:
    0.3 s of digital silence either side of a calm sentence moved the voice's anger from 0.12 to 0.83.

    Returns (EMBEDDING_DIM,) float32. Raises ValueError for an output of another width."""
    states = np.asarray(encoder_output, dtype=np.float32)
    if states.ndim == 3:
        states = states[0]
    if states.ndim != 2 or states.shape[1] != EMBEDDING_DIM:
        raise ValueError(f"encoder output must be (n, {EMBEDDING_DIM}), got {states.shape}")
    n = int(np.clip(np.ceil(content_mel_frames / MEL_FRAMES_PER_STATE), 1, len(states)))
    return pool(states[:n], speech_frames(np.asarray(audio16k, np.float32), n))


def utterance_prosody(audio16k: np.ndarray) -> tuple[np.ndarray, Prosody]:
    """(FEATURE_NAMES,) prosody of a whole utterance (16 kHz in, measured at 8 kHz) and its readable summary."""
    narrow = soxr.resample(np.asarray(audio16k, np.float32), UTTERANCE_RATE_HZ, FEATURE_RATE_HZ)
    return describe(narrow.astype(np.float32))


__all__ = [
    "FEATURE_NAMES",
    "PIECE_WINDOW_S",
    "VOICE_PIECE_S",
    "VoicePiece",
    "piece_bounds",
    "pool_encoder_output",
    "utterance_prosody",
]
