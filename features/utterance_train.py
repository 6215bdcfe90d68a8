"""Train the utterance view's voice model and measure it speaker- and corpus-independently, beside the
3 s window model.

    python -m features.utterance_train [--conditions telephone] [--with-windows] [--json OUT]

Data: RAVDESS (24 English actors) and the two CASIA Mandarin speakers from ../shared/data, each clip cut as
the endpointer cuts an utterance and encoded as transcription encodes it (features/utterance_dataset.py).
Protocols (no speaker is in both training and test data; scored on telephone audio):
- RAVDESS: 6 folds grouped by actor, training also gets all CASIA clips;
- CASIA: leave one speaker out, training gets all RAVDESS and the other CASIA speaker;
- across corpora: trained on all of RAVDESS, tested on CASIA, and the reverse.
Variants, in one run: prosody alone; pooled encoder states alone; both (the shipped recipe); both with states
from the 6 s busy window, trained on 30 s states (what a call gets under load) and trained on 6 s states.
(A level-normalised encoder input, an encoder pass of its own live, was measured once: model card.) `--with-windows` adds the
shipped 3 s window model's recipe under the same folds (features.train, its "speaker" and "live" views).
Metrics (features.metrics): anger-vs-rest and sad-vs-rest UAR and AUC, angry/sad/neutral UAR, and the share
of held-out calm/neutral clips the anger head puts at or above 0.5 (`calm_as_angry`).
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

from features.corpus import REPO_ROOT, read_labels, shared_data_dir
from features.dataset import CLASSES, class_of
from features.metrics import report
from features.model import MODEL_DIR, head_probabilities, new_pipeline
from features.utterance_dataset import extract_utterances
from features.utterance_model import UtteranceVoiceModel, utterance_inputs

CORPORA = ("ravdess", "casia")
RESULTS = REPO_ROOT / "bench" / "results" / "utterance_view.json"


class Corpus:
    """One corpus in one condition: labels, speakers and the cached utterance arrays."""

    def __init__(self, name: str, condition: str) -> None:
        clips = read_labels(shared_data_dir() / name / "LABELS.csv")
        self.name, self.condition = name, condition
        self.labels = np.array([class_of(c.emotion) for c in clips])
        self.speakers = np.array([c.speaker for c in clips])
        self.arrays = extract_utterances(clips, telephone=condition == "telephone")


Variant = Callable[[Corpus], np.ndarray]
VARIANTS: dict[str, tuple[Variant, Variant]] = {  # name -> (training inputs, test inputs)
    "prosody": (lambda c: utterance_inputs(c.arrays["prosody"], np.zeros_like(c.arrays["enc30"]))[:, :-512],) * 2,
    "encoder": (lambda c: c.arrays["enc30"],) * 2,
    "encoder+prosody (shipped)": (lambda c: utterance_inputs(c.arrays["prosody"], c.arrays["enc30"]),) * 2,
    "trained 30 s, scored on 6 s states": (
        lambda c: utterance_inputs(c.arrays["prosody"], c.arrays["enc30"]),
        lambda c: utterance_inputs(c.arrays["prosody"], c.arrays["enc6"]),
    ),
    "6 s states": (lambda c: utterance_inputs(c.arrays["prosody"], c.arrays["enc6"]),) * 2,
}


def _fit(train: list[tuple[Corpus, np.ndarray]], make_x: Variant, seed: int) -> Any:
    """Fit on the rows, each corpus repeated to about the size of the largest (as features.train does)."""
    sizes: dict[str, int] = {}
    for c, rows in train:
        sizes[c.name] = sizes.get(c.name, 0) + int(rows.sum())
    largest = max(sizes.values())
    xs, ys = [], []
    for c, rows in train:
        repeat = max(1, round(largest / max(1, sizes[c.name])))
        xs.append(np.repeat(make_x(c)[rows], repeat, axis=0))
        ys.append(np.repeat(c.labels[rows], repeat))
    return new_pipeline(seed).fit(np.vstack(xs), np.concatenate(ys))


def _scored(labels: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    out = report(labels, proba)
    calm = labels == "neutral"
    out["calm_as_angry"] = round(float((proba[calm, CLASSES.index("angry")] >= 0.5).mean()), 4)
    return out


def protocols(data: dict[tuple[str, str], Corpus], variant: tuple[Variant, Variant], seed: int) -> dict[str, Any]:
    make_train, make_test = variant
    conditions = sorted({cond for _, cond in data})
    out: dict[str, Any] = {}
    for corpus, folds in (("ravdess", 6), ("casia", None)):
        test = data[corpus, "telephone"]
        groups = np.unique(test.speakers)
        splits = (
            [(np.isin(test.speakers, groups[a]), np.isin(test.speakers, groups[b]))
             for a, b in GroupKFold(folds).split(groups, groups=groups)]
            if folds
            else [(test.speakers != s, test.speakers == s) for s in groups]
        )  # fmt: skip
        proba = np.zeros((len(test.labels), len(CLASSES)))
        for train_rows, test_rows in splits:
            parts = [(data[corpus, cond], train_rows) for cond in conditions]
            parts += [
                (data[o, cond], np.ones(len(data[o, cond].labels), bool))
                for o in CORPORA
                if o != corpus
                for cond in conditions
            ]
            model = _fit(parts, make_train, seed)
            proba[test_rows] = head_probabilities(model, make_test(test)[test_rows])
        out[f"{corpus}_speaker_independent"] = _scored(test.labels, proba)
    for train_corpus, test_corpus in (("ravdess", "casia"), ("casia", "ravdess")):
        parts = [(data[train_corpus, cond], np.ones(len(data[train_corpus, cond].labels), bool)) for cond in conditions]
        model = _fit(parts, make_train, seed)
        test = data[test_corpus, "telephone"]
        out[f"{train_corpus}_to_{test_corpus}"] = _scored(test.labels, head_probabilities(model, make_test(test)))
    return out


def load_corpora(conditions: tuple[str, ...] = ("telephone",)) -> dict[tuple[str, str], Corpus]:
    """Every corpus in the conditions (their utterance arrays are computed once and cached)."""
    return {(c, cond): Corpus(c, cond) for c in CORPORA for cond in conditions}


def fit_utterance_model(
    data: dict[tuple[str, str], Corpus], *, without_speakers: tuple[str, ...] = (), seed: int = 0
) -> UtteranceVoiceModel:
    """The shipped recipe fitted on every clip except `without_speakers`' (the escalation bench scores each
    speaker's calls with a model that never heard that speaker)."""
    shipped = VARIANTS["encoder+prosody (shipped)"][0]
    parts = [(corpus, ~np.isin(corpus.speakers, without_speakers)) for corpus in data.values()]
    return UtteranceVoiceModel(_fit(parts, shipped, seed), {"without_speakers": list(without_speakers)})


def windows_reference(seed: int) -> dict[str, Any]:
    """The shipped 3 s window model's recipe under features.train's folds (telephone rows)."""
    from features.train import cross_validate, load

    metrics = cross_validate(load(), lambda: new_pipeline(seed), seed, shipped_recipe=True)
    return {k: v for k, v in metrics.items() if "telephone" in k}


def _summary(name: str, r: dict[str, Any]) -> str:
    cells = []
    for key, v in r.items():
        cells.append(
            f"{key}: anger {v['anger_vs_rest']['uar']:.3f}/{v['anger_vs_rest']['auc']:.3f} "
            f"sad {v['sad_vs_rest']['uar']:.3f}/{v['sad_vs_rest']['auc']:.3f} 3-class {v['three_class']['uar']:.3f}"
            + (f" calm>=0.5 {v['calm_as_angry']:.1%}" if "calm_as_angry" in v else "")
        )
    return f"{name}\n  " + "\n  ".join(cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--conditions", default="telephone", help="training conditions, e.g. telephone,clean (tests are telephone)"
    )
    parser.add_argument("--with-windows", action="store_true", help="also cross-validate the 3 s window model")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--json", type=Path, default=RESULTS, metavar="OUT")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    conditions = args.conditions.split(",")
    data = load_corpora(tuple(conditions))
    results: dict[str, Any] = {"conditions_trained": conditions, "variants": {}}
    for name, variant in VARIANTS.items():
        results["variants"][name] = protocols(data, variant, args.seed)
        print(_summary(name, results["variants"][name]), file=sys.stderr, flush=True)
    if args.with_windows:
        results["windows_model"] = windows_reference(args.seed)
        print(_summary("3 s windows (shipped recipe)", results["windows_model"]), file=sys.stderr, flush=True)
    model = fit_utterance_model(data, seed=args.seed)
    model.meta.update(
        {
            "name": "callguard-utterance-voice",
            "encoder_window_s": 30.0,
            "encoder_input": "the utterance as transcription decodes it: level-normalised, padded to 30 s, pooled over speech",
            "trained_on": {"corpora": {c: f"../shared/data/{c}" for c in CORPORA}, "conditions": conditions},
            "seed": args.seed,
            "versions": {"scikit-learn": sklearn.__version__, "numpy": np.__version__},
            "metrics": results["variants"]["encoder+prosody (shipped)"],
        }
    )
    path = model.save(args.out)
    results["model_file"] = str(path)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"saved {path}; results in {args.json} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
