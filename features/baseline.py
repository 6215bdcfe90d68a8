"""Speaker baselines: judge a voice against how the same person sounded earlier, not against everyone.

A loud person is not an angry person, and a phone line's automatic gain control makes absolute level
meaningless anyway. Every feature is therefore also expressed as a difference from the speaker's baseline:
on a live call the mean of that speaker's first windows of speech; in training and evaluation the mean of a
few (default 6) unlabelled clips of the same speaker, which are then not scored themselves (normalising
against all of a speaker's clips would be optimistic: a call never knows the future).
"""

from __future__ import annotations

import numpy as np

BASELINE_CLIPS = 6


def baseline_mask(
    speakers: np.ndarray,
    *,
    n_baseline: int = BASELINE_CLIPS,
    seed: int = 0,
    calm: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of the clips used as each speaker's baseline: `n_baseline` random clips per speaker,
    drawn from the clips marked in `calm` when given (a call's first seconds are usually calm: that is
    the baseline the live service builds), else from all of them."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(speakers), dtype=bool)
    for speaker in np.unique(speakers):
        pool = speakers == speaker
        if calm is not None and np.sum(pool & calm) > 1:
            pool = pool & calm
        idx = np.nonzero(pool)[0]
        mask[rng.choice(idx, size=min(n_baseline, len(idx) - 1), replace=False)] = True
    return mask


def speaker_baselines(x: np.ndarray, speakers: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row, the mean feature vector of that row's speaker's baseline clips (NaNs ignored)."""
    out = np.empty_like(x)
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        with np.errstate(all="ignore"):
            out[rows] = np.nanmean(x[rows & mask], axis=0)
    return out


class RunningBaseline:
    """A live speaker baseline: the mean of the first `n_windows` feature vectors seen, then frozen."""

    def __init__(self, n_features: int, *, n_windows: int = BASELINE_CLIPS) -> None:
        self._sum = np.zeros(n_features)
        self._count = np.zeros(n_features)
        self._windows = 0
        self._n = n_windows

    @property
    def ready(self) -> bool:
        return self._windows >= self._n

    @property
    def windows(self) -> int:
        return self._windows

    def update(self, features: np.ndarray) -> None:
        if self.ready:
            return
        finite = np.isfinite(features)
        self._sum[finite] += features[finite]
        self._count[finite] += 1
        self._windows += 1

    @property
    def mean(self) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.where(self._count > 0, self._sum / np.maximum(self._count, 1), np.nan)
