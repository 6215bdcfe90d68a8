"""The emotion classifier: inputs, training recipe, and the safe on-disk format with its checked sidecar.

A stretch of speech is described by one vector (FEATURES): the 54 prosody features (features/prosody.py:
pitch, loudness, speech rate, pauses, spectrum) and the 512 pooled Whisper-encoder states
(features/embedding.py). Two views of it are scored, each by one class-balanced logistic regression per
class (one-vs-rest: angry, sad, neutral, other) over standardised inputs:
- relative (`pipeline`): every feature z-normalised against the same speaker (see baseline.py);
- absolute (`absolute`): the gain-independent features as they are (no baseline needed: level features are
  left out because a phone line's gain makes them meaningless without one). It scores a speaker until a
  calm baseline exists, and decides which windows may enter that baseline (see service/emotion.py).
Each head's probability is reported as it is, so "anger 0.8" means the anger head is that sure, and 0.5 is
its balanced decision point (one-vs-rest heads beat a softmax's argmax on anger-vs-rest and sad-vs-rest in
cross-validation).

On disk: `emotion.skops` (skops: no pickle, only trusted types load) and `emotion.json`, the sidecar with
feature names, class names, library versions, metrics and the model file's SHA-256, checked at load.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from features.baseline import CalmToMix
from features.checked_files import load_checked, save_checked
from features.corpus import REPO_ROOT
from features.dataset import CLASSES
from features.embedding import EMBEDDING_DIM
from features.prosody import FEATURE_NAMES

MODEL_DIR = REPO_ROOT / "trained_models"
MODEL_FILE = "emotion.skops"
SIDECAR_FILE = "emotion.json"

FEATURES: tuple[str, ...] = (*FEATURE_NAMES, *(f"whisper_enc{i}" for i in range(EMBEDDING_DIM)))
# The relative view sees the prosody only. With the encoder states z-normalised against a live baseline too,
# calm calls raised 24.6 false anger alerts per hour on the escalation bench (0 before): a baseline of a few
# sentences fixes their phonetic content, and every new sentence then reads as a large deviation.
RELATIVE_COLUMNS: tuple[int, ...] = tuple(range(len(FEATURE_NAMES)))
INPUT_NAMES: tuple[str, ...] = tuple(f"{FEATURES[i]}_z" for i in RELATIVE_COLUMNS)
# Level features depend on the line's gain: only meaningful against the same speaker's baseline.
_LEVEL_PREFIXES = ("loud_median", "loud_p90", "band", "mfcc0_mean")
ABSOLUTE_COLUMNS: tuple[int, ...] = tuple(i for i, n in enumerate(FEATURES) if not n.startswith(_LEVEL_PREFIXES))
ABSOLUTE_NAMES: tuple[str, ...] = tuple(FEATURES[i] for i in ABSOLUTE_COLUMNS)


class ModelIntegrityError(Exception):
    """The model file does not match its sidecar (corrupt, replaced or out of date)."""


def new_pipeline(seed: int = 0, c: float = 0.01) -> Pipeline:
    """C=0.01 (strong regularisation) was the best of 0.003-0.03 in cross-validation and transfers best."""
    return _standardised(OneVsRestClassifier(_balanced_lr(seed, c)))


def _balanced_lr(seed: int, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, class_weight="balanced", max_iter=5000, random_state=seed)


def _standardised(classifier: Any) -> Pipeline:
    """Median-impute (a window without voicing has no pitch), standardise, classify."""
    return Pipeline(
        [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()), ("classify", classifier)]
    )


def head_probabilities(pipeline: Any, inputs: np.ndarray) -> np.ndarray:
    """Each one-vs-rest head's own probability, in CLASSES order (rows need not sum to 1)."""
    inputs = np.atleast_2d(inputs)
    if hasattr(pipeline, "decision_function"):
        scores = np.atleast_2d(pipeline.decision_function(inputs))
        proba = expit(scores.reshape(len(inputs), -1))
    else:
        proba = pipeline.predict_proba(inputs)
    classes = list(pipeline.classes_)
    return np.column_stack([proba[:, classes.index(c)] if c in classes else np.zeros(len(inputs)) for c in CLASSES])


# Louder (every level feature rises with the line's gain) and higher (every pitch level) speech against the
# speaker's own baseline is evidence for anger, never against it.
MONOTONE_FEATURES: tuple[str, ...] = (
    "f0_median_st", "f0_p10_st", "f0_p90_st", "loud_median_db", "loud_p90_db", "mfcc0_mean",
    *(n for n in FEATURE_NAMES if n.startswith("band")),
)  # fmt: skip


def make_anger_monotone(pipeline: Pipeline) -> int:
    """Make the anger head non-decreasing in MONOTONE_FEATURES: their negative weights are set to 0 (a
    logistic head is then monotone in each of them and in any joint rise). Returns how many were clipped.
    Without it, a speaker's louder and higher sentence could score less anger than their calm one (a few
    weights of correlated level features come out negative)."""
    heads = pipeline.named_steps["classify"]
    return _clip_negative_level_weights(heads.estimators_[list(heads.classes_).index("angry")])


def _clip_negative_level_weights(estimator: Any) -> int:
    if estimator.coef_.shape[1] != len(INPUT_NAMES):
        raise ValueError("the anger head does not see every input (an all-missing column was dropped)")
    columns = [FEATURES.index(n) for n in MONOTONE_FEATURES]
    negative = [c for c in columns if estimator.coef_[0, c] < 0]
    estimator.coef_[0, negative] = 0.0
    return len(negative)


def relative_part(x: np.ndarray) -> np.ndarray:
    """The relative view's columns of (n, FEATURES) rows (rows already that narrow are returned as they are)."""
    x = np.atleast_2d(x)
    return x if x.shape[1] == len(RELATIVE_COLUMNS) else x[:, RELATIVE_COLUMNS]


def calibrate_line(p: np.ndarray, line: float) -> np.ndarray:
    """Shift probabilities in logit space so that `line` maps to 0.5 (a decision point moved, ranks kept).

    The absolute view has no speaker baseline to lean on, so its balanced 0.5 point fires on some unseen
    speakers' calm speech; training moves it to where held-out calm speech crosses it rarely."""
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    line = float(np.clip(line, 1e-6, 1 - 1e-6))
    return expit(np.log(p / (1 - p)) - np.log(line / (1 - line)))


def new_sad_vs_calm(seed: int = 0) -> Pipeline:
    """The live disappointment check: sad clips against the same speakers' calm clips, on features relative
    to the speaker's calm mean. The 4-class sad head alone mostly hears low arousal, and calm speech is low
    arousal too (on a live call it called 78% of calm windows sad); this head asks what differs from the
    speaker's own calm voice."""
    return _standardised(_balanced_lr(seed, 0.01))


def new_anger_vs_calm(seed: int = 0) -> Pipeline:
    """The live anger check against the speaker's own calm voice: angry clips against the same speakers'
    calm/neutral clips, on features relative to the speaker's calm mean (like new_sad_vs_calm). The 4-class
    anger head must also tell anger from happiness, fear and surprise, so it scores normal-intensity
    (not shouted) anger low; this head hears how far the voice moved from its own calm start."""
    return _standardised(_balanced_lr(seed, 0.01))


def fit_anger_vs_calm(x: np.ndarray, is_angry: np.ndarray, seed: int = 0) -> Pipeline:
    """new_anger_vs_calm fitted on (n, RELATIVE) calm-relative rows, made monotone in level and pitch."""
    pipeline = new_anger_vs_calm(seed).fit(x, is_angry)
    _clip_negative_level_weights(pipeline.named_steps["classify"])
    return pipeline


def apply_calm_checks(
    heads: np.ndarray, sad_vs_calm: Any, anger_vs_calm: Any | None, vs_calm: np.ndarray
) -> np.ndarray:
    """Live heads, checked against the speaker's own calm voice (`vs_calm`: calm-relative rows).

    Sad: the sad head times the sad-vs-own-calm check `s` (both must agree: sadder than the speaker's calm
    start, and sad rather than any other emotion).
    Anger (when the model has `anger_vs_calm`): max(a, sqrt(a * c * (1 - s))) of the anger head `a` and the
    anger-vs-own-calm check `c`. The geometric mean needs all three (a voice the anger head calls happy or
    fearful stays low however far it moved from calm, and so does one that moved towards sadness: without
    (1 - s), 2 of 26 sad calls of the escalation bench raised anger alerts); the max keeps every alert the
    anger head alone raises (on one Mandarin voice the calm check is weak, and the geometric mean alone lost
    that speaker's alert). Modifies and returns `heads`."""
    vs_calm = np.atleast_2d(vs_calm)
    s = sad_vs_calm.predict_proba(vs_calm)[:, 1]
    if anger_vs_calm is not None:
        a = heads[:, CLASSES.index("angry")]
        c = anger_vs_calm.predict_proba(vs_calm)[:, 1]
        heads[:, CLASSES.index("angry")] = np.maximum(a, np.sqrt(a * c * (1.0 - s)))
    heads[:, CLASSES.index("sad")] *= s
    return heads


@dataclass
class EmotionModel:
    pipeline: Pipeline  # the four one-vs-rest heads on speaker z-scores (relative view)
    sad_vs_calm: Pipeline  # on features relative to the speaker's calm mean (see new_sad_vs_calm)
    absolute: Pipeline  # the four heads on ABSOLUTE_COLUMNS as measured (absolute view)
    meta: dict[str, Any]
    anger_vs_calm: Pipeline | None = None  # on features relative to the speaker's calm mean (new_anger_vs_calm)
    _encoder: Any = None

    @property
    def encoder(self) -> Any:
        """The SpeechEncoder for the embedding part of FEATURES (loaded on first use: ~1 s, ~80 MB)."""
        if self._encoder is None:
            from features.embedding import SpeechEncoder

            self._encoder = SpeechEncoder.load()
        return self._encoder

    def absolute_probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, FEATURES) raw features -> (n, 4) absolute-view head probabilities in CLASSES order, the anger
        head recalibrated so that 0.5 is `absolute_anger_line` (see calibrate_line)."""
        heads = head_probabilities(self.absolute, np.atleast_2d(features)[:, ABSOLUTE_COLUMNS])
        heads[:, 0] = calibrate_line(heads[:, 0], float(self.meta.get("absolute_anger_line", 0.5)))
        return heads

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.meta["classes"])

    @property
    def calm_to_mix(self) -> CalmToMix:
        return CalmToMix.from_json(self.meta["calm_to_mix"])

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """(n, FEATURES) or (n, INPUT_NAMES) z-normalised features -> (n, 4) head probabilities, CLASSES order."""
        return head_probabilities(self.pipeline, relative_part(inputs))

    def live_probabilities(self, z: np.ndarray, vs_calm: np.ndarray) -> np.ndarray:
        """What a live call reports: the four heads, sad and anger checked against the speaker's own calm voice."""
        return apply_calm_checks(self.probabilities(z), self.sad_vs_calm, self.anger_vs_calm, relative_part(vs_calm))

    def save(self, directory: Path = MODEL_DIR) -> Path:
        parts = {"heads": self.pipeline, "sad_vs_calm": self.sad_vs_calm, "absolute": self.absolute}
        if self.anger_vs_calm is not None:
            parts["anger_vs_calm"] = self.anger_vs_calm
        self.meta = save_checked(parts, directory, MODEL_FILE, SIDECAR_FILE, self.meta)
        return directory / MODEL_FILE

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> EmotionModel:
        """Load and verify: checksum, feature names and classes must match this code."""
        parts, meta = load_checked(directory, MODEL_FILE, SIDECAR_FILE, ModelIntegrityError, "python -m features.train")
        sidecar = directory / SIDECAR_FILE
        if (
            tuple(meta.get("input_names", ())) != INPUT_NAMES
            or tuple(meta.get("absolute_names", ())) != ABSOLUTE_NAMES
            or tuple(meta.get("classes", ())) != CLASSES
            or "calm_to_mix" not in meta
        ):
            raise ModelIntegrityError(
                f"{sidecar} was trained on other features or classes than this code computes; retrain with "
                "`python -m features.train`"
            )
        return cls(parts["heads"], parts["sad_vs_calm"], parts["absolute"], meta, parts.get("anger_vs_calm"))
