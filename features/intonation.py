"""The final pitch movement of an utterance: does the voice rise at its end, as in a question?

A rising terminal F0 is the classic acoustic cue of a yes/no or echo question in English, and Mandarin
questions also end higher than the matching statements even though lexical tones move the pitch of every
syllable (Yuan, Shih & Kochanski 2002, "Comparison of declarative and interrogative intonation in Chinese",
Speech Prosody). Question detectors built on prosody use the F0 of the final voiced region against the
region just before it (Shriberg et al. 1998, "Can prosody aid the automatic classification of dialog acts in
conversational speech?", Language and Speech 41).

Measured here as: the median F0 of the last `end_s` of voiced speech minus the lowest point of the final
`tail_s` of voiced speech, in semitones. A statement's voice falls to its end (rise near 0); a question's rises
from that low point. F0 is the prosody module's YIN contour with its voicing checks, on 8 kHz telephone-band
audio, so the measure is the same for a live call and for the corpora it was checked on.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from features.prosody import FEATURE_RATE_HZ, HOP, frames

FRAME_S = HOP / FEATURE_RATE_HZ  # 10 ms


def _tracks(idx: np.ndarray, st: np.ndarray, max_gap: int, max_jump_st: float) -> list[np.ndarray]:
    """Split voiced frames into continuous pitch tracks: a gap over `max_gap` frames or a jump over
    `max_jump_st` between neighbours (YIN's octave errors, the noise of a final fricative, creak) starts anew."""
    breaks = np.flatnonzero((np.diff(idx) > max_gap) | (np.abs(np.diff(st)) > max_jump_st)) + 1
    return np.split(np.arange(len(idx)), breaks)


def final_rise_st(
    audio: np.ndarray,
    *,
    tail_s: float = 0.5,
    end_s: float = 0.1,
    min_track_s: float = 0.15,
    max_gap_s: float = 0.05,
    max_jump_st: float = 3.0,
) -> float:
    """Semitones the voice rises at the end of `audio` (float32 mono, FEATURE_RATE_HZ, one utterance).

    The end is the last continuous pitch track at least `min_track_s` long (what follows it, shorter, is
    taken as noise, creak or a pitch error); the rise is the median of its last `end_s` minus the lowest
    point of its last `tail_s`. Returns NaN when no track is long enough. Never negative: a falling end
    reads 0."""
    f = frames(audio)
    idx = np.flatnonzero(f.voiced)
    if len(idx) == 0:
        return float("nan")
    st = 12 * np.log2(f.f0_hz[idx] / 100.0)
    tracks = [t for t in _tracks(idx, st, round(max_gap_s / FRAME_S), max_jump_st) if len(t) * FRAME_S >= min_track_s]
    if not tracks:
        return float("nan")
    track = tracks[-1]
    tail = st[track][idx[track] > idx[track[-1]] - tail_s / FRAME_S]
    smooth = scipy.signal.medfilt(tail, 5) if len(tail) >= 5 else tail
    end = float(np.median(tail[-max(3, round(end_s / FRAME_S)) :]))
    return max(0.0, end - float(np.min(smooth)))
