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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.checked_files import load_checked, save_checked
from features.dataset import CLASSES
from features.embedding import EMBEDDING_DIM
from features.model import _LEVEL_PREFIXES, MODEL_DIR, head_probabilities
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
        meta = {**self.meta, "inputs": list(UTTERANCE_INPUTS), "classes": list(CLASSES)}
        self.meta = save_checked({"heads": self.pipeline}, directory, MODEL_FILE, SIDECAR_FILE, meta)
        return directory / MODEL_FILE

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> UtteranceVoiceModel:
        """Load and verify: checksum, input names and classes must match this code."""
        retrain = "python -m features.utterance_train"
        parts, meta = load_checked(directory, MODEL_FILE, SIDECAR_FILE, UtteranceModelError, retrain)
        if tuple(meta.get("inputs", ())) != UTTERANCE_INPUTS or tuple(meta.get("classes", ())) != CLASSES:
            raise UtteranceModelError(
                f"{directory / SIDECAR_FILE} was trained on other inputs than this code computes; retrain it"
            )
        return cls(parts["heads"], meta)
