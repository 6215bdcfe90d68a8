"""Fitting the words model (features.text_emotion.model) on labelled rows, with out-of-fold calibration.

Per class: a class-balanced logistic regression on the rows that know the class; its out-of-fold decision
values (GroupKFold by dialogue, so no dialogue is both trained on and scored) fit the Platt mapping with
both classes weighted equally; the final weights are fitted on every row. Decision lines are read off the
same out-of-fold probabilities: for each emotion, the lowest line that flags at most NEUTRAL_FLAG_RATE of
the calm (neutral) rows, so "neutral utterances flagged as angry" is bounded by construction in training
and measured on sets never trained on (features.text_emotion.train).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from features.text_emotion.corpora import HEADS, TextRow
from features.text_emotion.model import CHANNELS, TextEmotionModel, channel_text, new_vectoriser
from features.text_emotion.normalise import normalise

FOLDS = 4
NEUTRAL_FLAG_RATE = 0.03  # out of fold; the goal on unseen sets is <= 5% (margin for the shift)
DEFAULT_C = 2.0


@dataclass
class Prepared:
    """Rows, their normalised text, and per head which rows count and which are positive."""

    rows: list[TextRow]
    normalised: list[str]
    groups: np.ndarray

    @classmethod
    def of(cls, rows: list[TextRow], language: str) -> Prepared:
        normalised = [normalise(r.text, language) for r in rows]
        keep = [i for i, t in enumerate(normalised) if t]
        return cls([rows[i] for i in keep], [normalised[i] for i in keep], np.array([rows[i].group for i in keep]))

    def mask(self, head: str) -> tuple[np.ndarray, np.ndarray]:
        known = np.array([r.knows(head) for r in self.rows])
        positive = np.array([r.is_(head) for r in self.rows])
        return known, positive


def _lr(c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", solver="liblinear", max_iter=2000, random_state=seed)


def _platt(decision: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """Platt scaling with both classes weighted equally (a probability at equal prior)."""
    w = np.where(positive, 0.5 / max(1, positive.sum()), 0.5 / max(1, (~positive).sum())) * len(positive)
    lr = LogisticRegression(C=1e4, max_iter=1000).fit(decision[:, None], positive, sample_weight=w)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def fit_model(
    rows: list[TextRow],
    language: str,
    *,
    c: float = DEFAULT_C,
    seed: int = 0,
    progress: bool = True,
) -> tuple[TextEmotionModel, dict[str, np.ndarray]]:
    """The model fitted on `rows`, and its out-of-fold calibrated probabilities per head (NaN where a row
    does not know the head), for lines and metrics."""
    started = time.monotonic()
    data = Prepared.of(rows, language)
    channels = CHANNELS[language]
    vectorisers = [new_vectoriser(ch) for ch in channels]
    blocks = [
        v.fit_transform([channel_text(ch, t) for t in data.normalised])
        for v, ch in zip(vectorisers, channels, strict=True)
    ]
    x = sp.hstack(blocks, format="csr", dtype=np.float32)
    coef = np.zeros((len(HEADS), x.shape[1]), np.float32)
    intercept = np.zeros(len(HEADS))
    platt = np.tile([1.0, 0.0], (len(HEADS), 1))
    oof: dict[str, np.ndarray] = {}
    for h, head in enumerate(HEADS):
        known, positive = data.mask(head)
        idx = np.nonzero(known)[0]
        if not positive[idx].any() or positive[idx].all():
            oof[head] = np.full(len(data.rows), np.nan)
            coef[h], intercept[h], platt[h] = 0.0, -10.0, (1.0, 0.0)
            continue
        decision = np.zeros(len(idx))
        for train, test in GroupKFold(FOLDS).split(idx, groups=data.groups[idx]):
            lr = _lr(c, seed).fit(x[idx[train]], positive[idx[train]])
            decision[test] = lr.decision_function(x[idx[test]])
        a, b = _platt(decision, positive[idx])
        final = _lr(c, seed).fit(x[idx], positive[idx])
        coef[h], intercept[h], platt[h] = final.coef_[0], final.intercept_[0], (a, b)
        p = np.full(len(data.rows), np.nan)
        p[idx] = 1 / (1 + np.exp(-(a * decision + b)))
        oof[head] = p
        if progress:
            print(f"  {language} {head}: {len(idx)} rows, {positive[idx].sum()} positive, "
                  f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)  # fmt: skip
    model = TextEmotionModel(language, vectorisers, channels, coef, intercept, platt)
    model.meta["lines"] = lines_from(data, oof)
    model.meta["calm_quantiles"] = calm_quantiles(data, oof)
    model.meta["trained_heads"] = [h for h in HEADS if np.isfinite(oof[h]).any()]
    return model, {"_neutral_rows": np.array([r.is_("neutral") for r in data.rows]), **oof}


def lines_from(data: Prepared, oof: dict[str, np.ndarray]) -> dict[str, float]:
    """Per emotion head, the lowest line (probability) at which at most NEUTRAL_FLAG_RATE of the calm rows
    that know it are flagged, out of fold."""
    calm = np.array([r.is_("neutral") for r in data.rows])
    out = {"neutral": 0.5}
    for head in HEADS:
        if head == "neutral":
            continue
        p = oof[head][calm & np.isfinite(oof[head])]
        out[head] = round(float(np.quantile(p, 1 - NEUTRAL_FLAG_RATE)), 4) if len(p) else 0.5
    return out


CALM_QUANTILES = (0.9, 0.95, 0.97, 0.99, 0.995)


def calm_quantiles(data: Prepared, oof: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per emotion head, quantiles of its out-of-fold probability on calm rows: where a line flags a given share
    of calm utterances (the policy's words-alone lines are read off these)."""
    calm = np.array([r.is_("neutral") for r in data.rows])
    out = {}
    for head in HEADS:
        p = oof[head][calm & np.isfinite(oof[head])] if head != "neutral" else np.array([])
        if len(p):
            out[head] = {str(q): round(float(np.quantile(p, q)), 4) for q in CALM_QUANTILES}
    return out


def describe(model: TextEmotionModel, **extra: Any) -> dict[str, Any]:
    """What the sidecar records about how the model was made."""
    return {**extra, "folds": FOLDS, "neutral_flag_rate_oof": NEUTRAL_FLAG_RATE}
