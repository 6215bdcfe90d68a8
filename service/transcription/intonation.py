"""The final pitch rise of a transcribed utterance (features.intonation), for the question rules."""

from __future__ import annotations

import numpy as np
import soxr

from features.intonation import final_rise_st
from features.prosody import FEATURE_RATE_HZ
from service.transcription.vad import SAMPLE_RATE_HZ

TAIL_S = 2.0  # only the utterance's end is analysed: the measure looks at its last pitch track


def utterance_final_rise_st(audio: np.ndarray) -> float:
    """Semitones the voice rises at the end of an utterance (16 kHz float32 mono); NaN if no voiced end.

    Costs about 10 ms CPU per utterance (bench/dynamics.py, its last 2 s resampled to 8 kHz; the whole-clip
    measure in bench/voice_cues.py takes about 20 ms), on the transcription worker, beside 0.3-1.8 CPU-s for the
    utterance's Whisper decode (bench/results/transcription.json)."""
    tail = np.asarray(audio[-int(TAIL_S * SAMPLE_RATE_HZ) :], dtype=np.float32)
    if len(tail) == 0:
        return float("nan")
    return final_rise_st(soxr.resample(tail, SAMPLE_RATE_HZ, FEATURE_RATE_HZ).astype(np.float32))
