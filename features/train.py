"""Train the emotion model on real emotional speech and measure it speaker-independently.

    python -m features.train [--out trained_models] [--seed 0] [--json]

Data: RAVDESS (24 English actors) and the two CASIA Mandarin speakers from ../shared/data, each clip twice:
studio audio brought to 8 kHz, and the same through a simulated phone line (300-3400 Hz, G.711 mu-law).

Protocol (no speaker is ever in both training and test data):
- RAVDESS: 6-fold cross-validation grouped by actor (4 actors per test fold); training folds also get all
  CASIA clips. Scored on the held-out actors' clips, clean and telephone separately.
- CASIA: leave one speaker out; training gets all RAVDESS and the other CASIA speaker.
- Each speaker's baseline is the mean of 6 random clips of that speaker (seeded), which are not scored.
  `--baseline-from calm` draws them from neutral/calm clips instead, like a call's calm first seconds
  (telephone RAVDESS: anger UAR 0.81, sad 0.65, 3-class 0.73; it did not help live switch detection).
Baselines reported beside the model: majority class, and a loudness-only model.
The final model is then fitted on everything and saved with its sidecar and metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.model_selection import GroupKFold

from features.baseline import BASELINE_CLIPS, baseline_mask, speaker_baselines
from features.corpus import read_labels, shared_data_dir
from features.dataset import CLASSES, FeatureTable, extract
from features.metrics import format_report, report
from features.model import INPUT_NAMES, MODEL_DIR, EmotionModel, model_inputs, new_pipeline
from features.prosody import FEATURE_NAMES

CORPORA = ("ravdess", "casia")
CONDITIONS = (("telephone", True), ("clean", False))


class Prepared:
    """One corpus in one condition, ready for the classifier."""

    def __init__(self, table: FeatureTable, seed: int, baseline_from: str = "any") -> None:
        self.speakers = table.speakers
        self.labels = table.labels
        calm = self.labels == "neutral" if baseline_from == "calm" else None
        baseline = baseline_mask(self.speakers, n_baseline=BASELINE_CLIPS, seed=seed, calm=calm)
        self.inputs = model_inputs(table.x, speaker_baselines(table.x, self.speakers, baseline))
        self.scored = ~baseline


def load(seed: int, baseline_from: str = "any") -> dict[tuple[str, str], Prepared]:
    data = shared_data_dir()
    out = {}
    for corpus in CORPORA:
        labels_csv = data / corpus / "LABELS.csv"
        if not labels_csv.exists():
            raise SystemExit(f"train: {labels_csv} not found; set CALLGUARD_SHARED_DATA to the shared data folder")
        clips = read_labels(labels_csv)
        for condition, telephone in CONDITIONS:
            print(f"{corpus} ({condition}): {len(clips)} clips", file=sys.stderr, flush=True)
            out[corpus, condition] = Prepared(extract(clips, telephone=telephone), seed, baseline_from)
    return out


Model = Callable[[], Any]


def _fit(make: Model, parts: list[tuple[Prepared, np.ndarray]]) -> Any:
    x = np.vstack([p.inputs[rows & p.scored] for p, rows in parts])
    y = np.concatenate([p.labels[rows & p.scored] for p, rows in parts])
    return make().fit(x, y)


def _proba(model: Any, x: np.ndarray) -> np.ndarray:
    proba = model.predict_proba(x)
    classes = list(model.classes_)
    return np.column_stack([proba[:, classes.index(c)] if c in classes else np.zeros(len(x)) for c in CLASSES])


def cross_validate(data: dict[tuple[str, str], Prepared], make: Model) -> dict[str, Any]:
    """Speaker-independent scores per corpus and condition."""
    results: dict[str, Any] = {}
    for corpus, folds in (("ravdess", 6), ("casia", None)):
        speakers = data[corpus, "telephone"].speakers
        groups = np.unique(speakers)
        splits = (
            [
                (np.isin(speakers, groups[tr]), np.isin(speakers, groups[te]))
                for tr, te in GroupKFold(folds).split(groups, groups=groups)
            ]
            if folds
            else [(speakers != s, speakers == s) for s in groups]
        )
        proba = {c: np.zeros((len(speakers), len(CLASSES))) for c, _ in CONDITIONS}
        for train_rows, test_rows in splits:
            parts = [(data[corpus, c], train_rows) for c, _ in CONDITIONS]
            for other in CORPORA:
                if other != corpus:
                    parts += [(data[other, c], np.ones(len(data[other, c].labels), dtype=bool)) for c, _ in CONDITIONS]
            model = _fit(make, parts)
            for condition, _ in CONDITIONS:
                p = data[corpus, condition]
                proba[condition][test_rows] = _proba(model, p.inputs[test_rows])
        for condition, _ in CONDITIONS:
            p = data[corpus, condition]
            results[f"{corpus}_{condition}"] = report(p.labels[p.scored], proba[condition][p.scored])
    return results


class Majority:
    """Always the most frequent training class."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> Majority:
        values, counts = np.unique(y, return_counts=True)
        self.classes_ = np.array(CLASSES)
        self._p = np.array([float(c == values[counts.argmax()]) for c in CLASSES])
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.tile(self._p, (len(x), 1))


class Columns:
    """A fresh pipeline on some input columns only (the loudness-only baseline)."""

    def __init__(self, names: tuple[str, ...], seed: int) -> None:
        self._idx = [INPUT_NAMES.index(n) for n in names]
        self._model = new_pipeline(seed)

    def fit(self, x: np.ndarray, y: np.ndarray) -> Columns:
        self._model.fit(x[:, self._idx], y)
        self.classes_ = self._model.classes_
        return self

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self._model.predict_proba(x[:, self._idx])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=MODEL_DIR, help="where to write the model (default trained_models/)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baseline-from",
        choices=["any", "calm"],
        default="any",
        help="speaker baselines from 6 random clips (default) or 6 neutral/calm clips (a call's calm first seconds)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    data = load(args.seed, args.baseline_from)

    candidates: dict[str, Model] = {
        "model": lambda: new_pipeline(args.seed),
        "majority_class": Majority,
        "loudness_only": lambda: Columns(("loud_median_db_vs_baseline",), args.seed),
    }
    metrics = {}
    for name, make in candidates.items():
        print(f"cross-validating {name} ...", file=sys.stderr, flush=True)
        metrics[name] = cross_validate(data, make)

    print("fitting the final model on all speakers ...", file=sys.stderr, flush=True)
    everything = [(p, np.ones(len(p.labels), dtype=bool)) for p in data.values()]
    final = _fit(lambda: new_pipeline(args.seed), everything)
    n_train = int(sum(np.sum(p.scored) for p in data.values()))
    meta = {
        "name": "callguard-emotion",
        "classes": list(CLASSES),
        "input_names": list(INPUT_NAMES),
        "prosody_features": list(FEATURE_NAMES),
        "baseline_clips": BASELINE_CLIPS,
        "baseline_from": args.baseline_from,
        "seed": args.seed,
        "trained_on": {
            "corpora": {c: "../shared/data/" + c for c in CORPORA},
            "conditions": [c for c, _ in CONDITIONS],
            "rows": n_train,
        },
        "versions": {
            "python": sys.version.split()[0],
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "librosa": __import__("librosa").__version__,
            "skops": __import__("skops").__version__,
        },
        "metrics": metrics,
    }
    EmotionModel(final, meta).save(args.out)
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        for name in candidates:
            print(f"\n=== {name} ===")
            for key, r in metrics[name].items():
                print(format_report(key, r))
    print(f"\nsaved {args.out / 'emotion.skops'} and emotion.json ({n_train} training rows) in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
