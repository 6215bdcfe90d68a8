"""The emotion classifier: inputs, training recipe, and the safe on-disk format with its checked sidecar.

Inputs are the prosody features of a stretch of speech expressed against the speaker's baseline (see
baseline.py), plus a few features that carry meaning on their own (pitch variability, pauses, rate,
spectral flatness). The classifier is a class-balanced multinomial logistic regression over
standardised inputs: simple enough to transfer to voices and corpora it never saw, and cheap.

On disk: `emotion.skops` (skops: no pickle, only trusted types load) and `emotion.json`, the sidecar with
feature names, class names, library versions, metrics and the model file's SHA-256, checked at load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from features.corpus import REPO_ROOT
from features.dataset import CLASSES
from features.prosody import FEATURE_NAMES

MODEL_DIR = REPO_ROOT / "trained_models"
MODEL_FILE = "emotion.skops"
SIDECAR_FILE = "emotion.json"

# Features that mean something without a baseline; they enter the model as they are, too.
ABSOLUTE_FEATURES: tuple[str, ...] = (
    "f0_range_st",
    "f0_std_st",
    "loud_std_db",
    "high_low_db",
    "flatness",
    "voiced_ratio",
    "pause_ratio",
    "syllable_rate",
)
_ABS_INDEX = [FEATURE_NAMES.index(n) for n in ABSOLUTE_FEATURES]
INPUT_NAMES: tuple[str, ...] = (*(f"{n}_vs_baseline" for n in FEATURE_NAMES), *ABSOLUTE_FEATURES)


# Types skops may load beyond its built-in safe set; anything else in the file is refused.
TRUSTED_TYPES = ["numpy.dtype"]


class ModelIntegrityError(Exception):
    """The model file does not match its sidecar (corrupt, replaced or out of date)."""


def model_inputs(features: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """(n, FEATURE_NAMES) features and their speakers' baselines -> (n, INPUT_NAMES) model inputs."""
    features = np.atleast_2d(features)
    return np.hstack([features - np.atleast_2d(baseline), features[:, _ABS_INDEX]])


def new_pipeline(seed: int = 0) -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="median")),
            ("scale", StandardScaler()),
            ("classify", LogisticRegression(C=0.03, class_weight="balanced", max_iter=5000, random_state=seed)),
        ]
    )


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class EmotionModel:
    pipeline: Pipeline
    meta: dict[str, Any]

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.meta["classes"])

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """(n, INPUT_NAMES) -> (n, 4) probabilities in CLASSES order (angry, sad, neutral, other)."""
        proba = self.pipeline.predict_proba(np.atleast_2d(inputs))
        order = [list(self.pipeline.classes_).index(c) for c in CLASSES]
        return proba[:, order]

    def save(self, directory: Path = MODEL_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        model_path = directory / MODEL_FILE
        sio.dump(self.pipeline, model_path)
        meta = {**self.meta, "model_file": MODEL_FILE, "sha256": _sha256(model_path)}
        (directory / SIDECAR_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
        self.meta = meta
        return model_path

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> EmotionModel:
        """Load and verify: checksum, feature names and classes must match this code."""
        sidecar = directory / SIDECAR_FILE
        if not sidecar.exists():
            raise ModelIntegrityError(f"{sidecar} is missing; train a model with `python -m features.train`")
        meta = json.loads(sidecar.read_text())
        model_path = directory / meta.get("model_file", MODEL_FILE)
        digest = _sha256(model_path)
        if digest != meta.get("sha256"):
            raise ModelIntegrityError(
                f"{model_path} has SHA-256 {digest} but {sidecar} expects {meta.get('sha256')}: the model file is "
                "corrupt or was replaced; retrain with `python -m features.train` or restore it from git"
            )
        if tuple(meta.get("input_names", ())) != INPUT_NAMES or tuple(meta.get("classes", ())) != CLASSES:
            raise ModelIntegrityError(
                f"{sidecar} was trained on other features or classes than this code computes; retrain with "
                "`python -m features.train`"
            )
        pipeline = sio.load(model_path, trusted=TRUSTED_TYPES)
        return cls(pipeline, meta)
