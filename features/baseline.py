"""Speaker normalisation: judge a voice against how the same person sounds, not against everyone.

A loud person is not an angry person, and a phone line's automatic gain control makes absolute level
meaningless anyway. Every feature is therefore z-normalised per speaker: minus that speaker's mean, divided
by that speaker's standard deviation.

- Training and `features.evaluate`: the statistics come from all of the speaker's clips in the set (the
  issue's protocol; labels are never used). A speaker's clips span several emotions, so these are the
  statistics of the speaker's *mix* of speech.
- A live call only has the caller's first, usually calm, seconds. `CallNormaliser` turns their mean into an
  estimate of the mix statistics the model was trained against (`CalmToMix`, learned from the training
  speakers): the mix mean sits a typical offset above the calm mean (a speaker's average speech is louder
  and higher than their calm speech), and the spread is the population's typical within-speaker spread.
  Estimating the spread from the call's own first windows was worse in cross-validation (telephone
  RAVDESS anger UAR 0.76 from the call alone, 0.81 shrunk half-way to the population's, 0.84 with the
  population's), because a few overlapping calm windows say little about how far a voice can move.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

BASELINE_WINDOWS = 8
# Relative features are clipped to +-Z_CLIP spreads. A feature far outside anything seen in training (a line
# whose noise makes spectral flatness move 10 spreads) otherwise outweighs all the others in a linear head:
# a shouting caller at +24 dB and +11 st scored P(anger) 0.05 because flatness alone contributed -4 logits.
Z_CLIP = 4.0


def _safe_std(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        sd = np.nanstd(x, axis=0)
    return np.where(np.isfinite(sd) & (sd > 1e-6), sd, np.nan)


def speaker_znorm(x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    """(n, f) features -> the same z-normalised per speaker over all that speaker's rows (NaNs kept)."""
    out = np.full_like(x, np.nan, dtype=float)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        with np.errstate(all="ignore"):
            mean = np.nanmean(x[rows], axis=0)
        out[rows] = np.clip((x[rows] - mean) / _safe_std(x[rows]), -Z_CLIP, Z_CLIP)
    return out


def relative_to_calm(x: np.ndarray, calm_mean: np.ndarray, population_std: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        out = np.clip((np.asarray(x, dtype=float) - calm_mean) / population_std, -Z_CLIP, Z_CLIP)
    return np.where(np.isfinite(out), out, np.nan)


@dataclass(frozen=True)
class CalmToMix:
    """How a speaker's calm speech relates to their whole mix, per feature (medians over training speakers)."""

    offset: np.ndarray  # mix mean - calm mean, in the feature's own units
    population_std: np.ndarray  # a typical speaker's within-speaker (mix) standard deviation

    @classmethod
    def fit(cls, x: np.ndarray, speakers: np.ndarray, calm: np.ndarray) -> CalmToMix:
        offsets, stds = [], []
        for speaker in np.unique(speakers):
            rows = speakers == speaker
            if np.sum(rows & calm) < 3:
                continue
            with np.errstate(all="ignore"):
                offsets.append(np.nanmean(x[rows], axis=0) - np.nanmean(x[rows & calm], axis=0))
            stds.append(_safe_std(x[rows]))
        if not stds:
            raise ValueError("CalmToMix needs speakers with at least 3 calm clips each")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a feature no speaker has (all NaN) -> 0 below
            offset, std = (np.nanmedian(np.vstack(v), axis=0) for v in (offsets, stds))
        return cls(np.nan_to_num(offset), np.where(np.isfinite(std) & (std > 0), std, 1.0))

    def to_json(self) -> dict[str, Any]:
        return {k: [round(float(v), 6) for v in getattr(self, k)] for k in ("offset", "population_std")}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CalmToMix:
        return cls(*(np.asarray(d[k], dtype=float) for k in ("offset", "population_std")))


class CallNormaliser:
    """A live speaker's normaliser: learns from the first `n_windows` feature vectors, then stays fixed
    (a call's first seconds are its calm reference; later anger must not become the new normal)."""

    def __init__(self, calm_to_mix: CalmToMix, *, n_windows: int = BASELINE_WINDOWS) -> None:
        self._map = calm_to_mix
        self._rows: list[np.ndarray] = []
        self._n = n_windows
        self._calm_mean: np.ndarray | None = None

    @property
    def has_windows(self) -> bool:
        return bool(self._rows)

    @property
    def ready(self) -> bool:
        return len(self._rows) >= self._n

    def update(self, features: np.ndarray) -> None:
        if self.ready:
            return
        self._rows.append(np.asarray(features, dtype=float))
        self._calm_mean = None

    @property
    def calm_mean(self) -> np.ndarray:
        """The speaker's own reference level per feature (what "vs. baseline" differences are against)."""
        if self._calm_mean is None:
            with np.errstate(all="ignore"):
                self._calm_mean = np.nanmean(np.vstack(self._rows), axis=0)
        return self._calm_mean

    def vs_calm(self, features: np.ndarray) -> np.ndarray:
        """Features relative to the speaker's calm mean, in population spreads (the sad-vs-calm input)."""
        return relative_to_calm(features, self.calm_mean, self._map.population_std)

    def normalise(self, features: np.ndarray) -> np.ndarray:
        mix_mean = self.calm_mean + self._map.offset
        with np.errstate(all="ignore"):
            z = np.clip((np.asarray(features, dtype=float) - mix_mean) / self._map.population_std, -Z_CLIP, Z_CLIP)
        return np.where(np.isfinite(z), z, np.nan)
