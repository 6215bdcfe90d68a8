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

import numpy as np
import soxr

from features.embedding import EMBEDDING_DIM, pool, speech_frames
from features.prosody import FEATURE_NAMES, FEATURE_RATE_HZ, Prosody, describe

UTTERANCE_RATE_HZ = 16000
MEL_FRAMES_PER_STATE = 2  # the encoder's stride-2 convolution: one state per 20 ms


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


__all__ = ["FEATURE_NAMES", "pool_encoder_output", "utterance_prosody"]
