"""The utterance view's voice model: one whole utterance -> P(angry), P(sad), P(neutral), P(other).

Input (`UTTERANCE_INPUTS`): the utterance's gain-independent prosody (features/prosody.py minus the level
features, which mean nothing without the speaker's own level) and its Whisper encoder states mean-pooled over
the utterance's own frames, as transcription computed them (features/utterance_voice.py). No speaker
baseline is needed, so it judges a caller from their first utterance. One class-balanced logistic
regression per class (one-vs-rest, features.model.new_pipeline), so each head's 0.5 is its balanced point
and its logit adds to the words model's (service/judgement/fusion.py).

On disk like the window model (skops, no pickle; a sidecar with names, metrics and the file's SHA-256):
`utterance_voice.skops` + `utterance_voice.json`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio

from features.dataset import CLASSES
from features.embedding import EMBEDDING_DIM
from features.model import _LEVEL_PREFIXES, MODEL_DIR, TRUSTED_TYPES, head_probabilities
from features.prosody import FEATURE_NAMES

MODEL_FILE = "utterance_voice.skops"
SIDECAR_FILE = "utterance_voice.json"

PROSODY_COLUMNS: tuple[int, ...] = tuple(i for i, n in enumerate(FEATURE_NAMES) if not n.startswith(_LEVEL_PREFIXES))
UTTERANCE_INPUTS: tuple[str, ...] = (
    *(FEATURE_NAMES[i] for i in PROSODY_COLUMNS),
    *(f"whisper_utt{i}" for i in range(EMBEDDING_DIM)),
)


class UtteranceModelError(Exception):
    """The utterance voice model's files are missing, corrupt or from another version of this code."""


def utterance_inputs(prosody: np.ndarray, pooled: np.ndarray) -> np.ndarray:
    """(n, FEATURE_NAMES) prosody and (n, EMBEDDING_DIM) pooled states -> (n, UTTERANCE_INPUTS)."""
    prosody, pooled = np.atleast_2d(prosody), np.atleast_2d(pooled)
    return np.hstack([prosody[:, PROSODY_COLUMNS], pooled])


@dataclass
class UtteranceVoiceModel:
    pipeline: Any  # four one-vs-rest heads on UTTERANCE_INPUTS
    meta: dict[str, Any]

    def probabilities(self, prosody: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """(n, 4) head probabilities in CLASSES order (angry, sad, neutral, other)."""
        return head_probabilities(self.pipeline, utterance_inputs(prosody, pooled))

    @property
    def window_s(self) -> float:
        """The encoder window the model was trained on (states from another window are a shift: measured)."""
        return float(self.meta.get("encoder_window_s", 30.0))

    def save(self, directory: Path = MODEL_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / MODEL_FILE
        sio.dump({"heads": self.pipeline}, path)
        self.meta = {**self.meta, "inputs": list(UTTERANCE_INPUTS), "classes": list(CLASSES), "model_file": MODEL_FILE}
        self.meta["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        (directory / SIDECAR_FILE).write_text(json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> UtteranceVoiceModel:
        sidecar = directory / SIDECAR_FILE
        if not sidecar.exists():
            raise UtteranceModelError(f"{sidecar} is missing; train it with `python -m features.utterance_train`")
        meta = json.loads(sidecar.read_text())
        path = directory / meta.get("model_file", MODEL_FILE)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != meta.get("sha256"):
            raise UtteranceModelError(
                f"{path} has SHA-256 {digest} but {sidecar} expects {meta.get('sha256')}: corrupt or replaced; "
                "retrain with `python -m features.utterance_train` or restore it from git"
            )
        if tuple(meta.get("inputs", ())) != UTTERANCE_INPUTS or tuple(meta.get("classes", ())) != CLASSES:
            raise UtteranceModelError(f"{sidecar} was trained on other inputs than this code computes; retrain it")
        return cls(sio.load(path, trusted=TRUSTED_TYPES)["heads"], meta)
