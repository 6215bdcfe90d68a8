"""Prosody and voice-quality features of a stretch of speech, computed on 8 kHz telephone-band audio.

Everything is computed at 8 kHz: live calls arrive that way, and training audio (16 kHz studio speech) is
brought to the same band first, so the model never learns from energy above 4 kHz that a phone line removes.

Pitch is librosa's YIN, not pYIN: pYIN costs ~23x more CPU (0.12 vs 0.005 CPU-s per audio-s on this machine)
with no accuracy gain here, and its HMM voicing decision marked whole loud angry clips as unvoiced. YIN has no
voicing decision, so we take frames as voiced when they are loud enough to be speech and their F0 sits inside
the search range and agrees with its neighbours.

Shapes: audio is float32 mono at FEATURE_RATE_HZ; frames are 32 ms with a 10 ms hop.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import scipy.signal

FEATURE_RATE_HZ = 8000
HOP = 80  # 10 ms
FRAME = 256  # 32 ms
YIN_FRAME = 512  # 64 ms: two periods of the lowest F0
F0_MIN_HZ = 65.0
F0_MAX_HZ = 450.0
SPEECH_DB_BELOW_PEAK = 35.0  # frames this far below the loudest frame are pause, not speech
N_MFCC = 13
N_DELTA = 6  # MFCC deltas kept (their spread measures articulation dynamics)
BANDS_HZ = ((100, 500), (500, 1000), (1000, 2000), (2000, 3800))


@dataclass(frozen=True)
class Frames:
    """Frame-level measurements (10 ms hop)."""

    rms_db: np.ndarray
    f0_hz: np.ndarray  # NaN where unvoiced
    speech: np.ndarray  # bool
    mfcc: np.ndarray  # (N_MFCC, n)
    centroid_hz: np.ndarray
    flatness: np.ndarray
    high_low_db: np.ndarray  # energy 1-4 kHz vs 0.1-1 kHz: vocal effort tilts the spectrum up
    bands_db: np.ndarray  # (len(BANDS_HZ), n) level per band, dB

    @property
    def voiced(self) -> np.ndarray:
        return ~np.isnan(self.f0_hz)


def frames(audio: np.ndarray, *, floor_db: float | None = None) -> Frames:
    """Frame-level analysis. `floor_db`: fixed speech/pause energy threshold (live windows pass the speaker's)."""
    y = np.asarray(audio, dtype=np.float32)
    if len(y) < YIN_FRAME:
        y = np.pad(y, (0, YIN_FRAME - len(y)))
    spec = np.abs(librosa.stft(y, n_fft=FRAME, hop_length=HOP, center=True)) ** 2
    rms = np.sqrt(np.mean(spec, axis=0) / FRAME + 1e-12)
    rms_db = 20 * np.log10(rms + 1e-9)
    threshold = floor_db if floor_db is not None else float(np.max(rms_db)) - SPEECH_DB_BELOW_PEAK
    speech = rms_db > threshold
    f0 = librosa.yin(y, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=FEATURE_RATE_HZ, frame_length=YIN_FRAME, hop_length=HOP)
    n = min(len(f0), spec.shape[1])
    f0, spec, rms_db, speech = f0[:n], spec[:, :n], rms_db[:n], speech[:n]
    in_range = (f0 > F0_MIN_HZ * 1.05) & (f0 < F0_MAX_HZ * 0.95)
    st = 12 * np.log2(np.maximum(f0, 1.0) / 100.0)
    smooth = scipy.signal.medfilt(st, 5)
    stable = np.abs(st - smooth) < 1.5
    voiced = speech & in_range & stable & (rms_db > threshold + 6)
    f0 = np.where(voiced, f0, np.nan)

    freqs = librosa.fft_frequencies(sr=FEATURE_RATE_HZ, n_fft=FRAME)
    total = spec.sum(axis=0) + 1e-12
    centroid = (freqs[:, None] * spec).sum(axis=0) / total
    flatness = librosa.feature.spectral_flatness(S=np.sqrt(spec))[0]
    low = spec[(freqs >= 100) & (freqs < 1000)].sum(axis=0) + 1e-12
    high = spec[(freqs >= 1000) & (freqs <= 4000)].sum(axis=0) + 1e-12
    bands = np.vstack([10 * np.log10(spec[(freqs >= lo) & (freqs < hi)].sum(axis=0) + 1e-12) for lo, hi in BANDS_HZ])
    mel = librosa.feature.melspectrogram(S=spec, sr=FEATURE_RATE_HZ, n_mels=40, fmin=60, fmax=3800)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC)
    return Frames(rms_db, f0, speech, mfcc, centroid, flatness, 10 * np.log10(high / low), bands)


def _stats(x: np.ndarray) -> tuple[float, float, float, float]:
    """median, p10, p90, std of the finite values (NaN if none)."""
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return (np.nan,) * 4  # type: ignore[return-value]
    p10, p50, p90 = np.percentile(x, [10, 50, 90])
    return float(p50), float(p10), float(p90), float(np.std(x))


def syllable_nuclei(f: Frames) -> int:
    """Acoustic syllable count: peaks of the smoothed loudness of voiced speech, at least 3 dB prominent and
    80 ms apart (after de Jong & Wempe's Praat script, on energy instead of intensity)."""
    env = np.where(f.speech, f.rms_db, np.min(f.rms_db))
    env = scipy.ndimage.uniform_filter1d(env, 5)
    peaks, _ = scipy.signal.find_peaks(env, prominence=3.0, distance=8)
    voiced = f.voiced
    near_voiced = scipy.ndimage.maximum_filter1d(voiced.astype(np.uint8), 5).astype(bool)
    return int(np.sum(near_voiced[peaks]))


def _shimmer(rms_db: np.ndarray, voiced: np.ndarray) -> float:
    """Median level change between consecutive voiced frames, dB: a frame-rate stand-in for shimmer."""
    both = voiced[1:] & voiced[:-1]
    return float(np.median(np.abs(np.diff(rms_db))[both])) if both.any() else np.nan


# The feature vector, in order. `*_db` and `*_st` are the ones a speaker baseline is subtracted from.
FEATURE_NAMES: tuple[str, ...] = (
    "f0_median_st",
    "f0_p10_st",
    "f0_p90_st",
    "f0_range_st",
    "f0_std_st",
    "f0_slope_st_per_s",
    "loud_median_db",
    "loud_p90_db",
    "loud_std_db",
    "centroid_hz",
    "flatness",
    "high_low_db",
    "voiced_ratio",
    "pause_ratio",
    "syllable_rate",
    *(f"mfcc{i}_mean" for i in range(N_MFCC)),
    *(f"mfcc{i}_std" for i in range(N_MFCC)),
    *(f"band{lo}_{hi}_db" for lo, hi in BANDS_HZ),
    *(f"dmfcc{i}_std" for i in range(N_DELTA)),
    "loud_change_db",
    "f0_rise_ratio",
    "shimmer_db",
)


@dataclass(frozen=True)
class Prosody:
    """What a person would read off a stretch of speech."""

    pitch_hz: float  # median F0 of voiced frames (NaN if none)
    loudness_db: float  # median level of speech frames, dBFS
    speech_rate_sps: float  # syllables per second of speech
    pause_ratio: float  # share of the stretch (first to last speech frame) that is pause
    speech_s: float  # seconds of speech frames


def describe(audio: np.ndarray, *, floor_db: float | None = None) -> tuple[np.ndarray, Prosody]:
    """Feature vector (FEATURE_NAMES order) and readable prosody of `audio` at FEATURE_RATE_HZ."""
    f = frames(audio, floor_db=floor_db)
    speech_idx = np.nonzero(f.speech)[0]
    if len(speech_idx) == 0:
        return np.full(len(FEATURE_NAMES), np.nan), Prosody(np.nan, np.nan, 0.0, 1.0, 0.0)
    span = slice(speech_idx[0], speech_idx[-1] + 1)
    speech = f.speech[span]
    st = 12 * np.log2(f.f0_hz[span] / 100.0)
    f0_med, f0_p10, f0_p90, f0_std = _stats(st)
    slope = np.abs(np.diff(st)) * 100  # st per second between adjacent voiced frames
    loud_med, _, loud_p90, loud_std = _stats(f.rms_db[span][speech])
    speech_s = float(np.sum(speech)) / 100
    rate = syllable_nuclei(f) / max(speech_s, 0.1)
    vec = np.array(
        [
            f0_med,
            f0_p10,
            f0_p90,
            f0_p90 - f0_p10,
            f0_std,
            float(np.nanmedian(slope)) if np.any(np.isfinite(slope)) else np.nan,
            loud_med,
            loud_p90,
            loud_std,
            float(np.mean(f.centroid_hz[span][speech])),
            float(np.mean(f.flatness[span][speech])),
            float(np.mean(f.high_low_db[span][speech])),
            float(np.mean(f.voiced[span])),
            float(1 - np.mean(speech)),
            rate,
            *np.mean(f.mfcc[:, span][:, speech], axis=1),
            *np.std(f.mfcc[:, span][:, speech], axis=1),
            *np.mean(f.bands_db[:, span][:, speech], axis=1),
            *np.std(librosa.feature.delta(f.mfcc[:N_DELTA, span], width=5, mode="nearest")[:, speech], axis=1),
            float(np.mean(np.abs(np.diff(f.rms_db[span])))) if span.stop - span.start > 1 else np.nan,
            float(np.mean(np.diff(st)[np.isfinite(np.diff(st))] > 0)) if np.any(np.isfinite(np.diff(st))) else np.nan,
            _shimmer(f.rms_db[span], f.voiced[span]),
        ]
    )
    pitch = float(100 * 2 ** (f0_med / 12)) if np.isfinite(f0_med) else np.nan
    return vec, Prosody(pitch, loud_med, rate, float(1 - np.mean(speech)), speech_s)
