"""Evaluate the shipped voice models on any corpus in the LABELS.csv format, without retraining.

    python -m features.evaluate LABELS.csv [--telephone] [--view utterance|windows] [--json OUT]

LABELS.csv needs the columns path (relative to the CSV's folder), speaker and emotion (angry, sad, neutral,
calm, happy, fear, disgust, surprise...). `--telephone` first passes the audio through a simulated phone line
(8 kHz, 300-3400 Hz, G.711 mu-law).

`--view utterance` (the default) scores each clip as a call scores an utterance, with the view that drives
alerts: the clip cut as the endpointer cuts an utterance, the utterance view of the voice on its Whisper
encoder states (30 s decode window) and prosody (trained_models/utterance_voice). Voice only: corpus clips
carry no emotional words. No speaker baseline is used, so the numbers mean what a caller's first utterance
gets. `--view windows` scores with the 3 s window model (trained_models/emotion), each speaker z-normalised
over that speaker's own clips in the set (never their labels), as it was trained.

Prints anger-vs-rest and sad-vs-rest UAR and ROC AUC, and the angry/sad/neutral UAR with its confusion
matrix; `--json OUT` writes them (keys anger_vs_rest.uar, anger_vs_rest.auc, sad_vs_rest.uar,
sad_vs_rest.auc, three_class.uar, ...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from features.baseline import speaker_znorm
from features.corpus import read_labels
from features.dataset import class_of, extract, extract_embeddings
from features.metrics import format_report, report
from features.model import MODEL_DIR, EmotionModel, ModelIntegrityError
from features.utterance_model import UtteranceModelError, UtteranceVoiceModel


def evaluate(labels_csv: Path, *, telephone: bool, model_dir: Path = MODEL_DIR, view: str = "utterance") -> dict:
    clips = read_labels(labels_csv)
    if not clips:
        raise ValueError(f"{labels_csv} lists no clips")
    labels = np.array([class_of(c.emotion) for c in clips])
    if view == "utterance":
        from features.utterance_dataset import extract_utterances

        model = UtteranceVoiceModel.load(model_dir)
        arrays = extract_utterances(clips, telephone=telephone, variants=("enc30",))
        result = report(labels, model.probabilities(arrays["prosody"], arrays["enc30"]))
        result["normalisation"] = "none: each clip judged alone, as a caller's first utterance"
    else:
        windows = EmotionModel.load(model_dir)
        table = extract(clips, telephone=telephone)
        x = np.hstack([table.x, extract_embeddings(clips, telephone=telephone)])
        result = report(labels, windows.probabilities(speaker_znorm(x, table.speakers)))
        result["normalisation"] = "per-speaker z-score over the speaker's clips in this set"
    result["view"] = view
    result["corpus"] = str(labels_csv)
    result["condition"] = "telephone" if telephone else "clean"
    result["speakers"] = len({c.speaker for c in clips})
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labels", type=Path, help="LABELS.csv of the corpus to evaluate on")
    parser.add_argument("--telephone", action="store_true", help="degrade the audio like a phone line first")
    parser.add_argument("--view", choices=("utterance", "windows"), default="utterance",
                        help="utterance: the view that drives alerts (default); windows: the 3 s window model")  # fmt: skip
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results to this JSON file")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="model to evaluate (default trained_models/)")
    args = parser.parse_args(argv)
    if not args.labels.exists():
        print(f"evaluate: {args.labels} not found", file=sys.stderr)
        return 2
    try:
        result = evaluate(args.labels, telephone=args.telephone, model_dir=args.model_dir, view=args.view)
    except (ModelIntegrityError, UtteranceModelError, ValueError, KeyError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    name = f"{args.labels} ({result['condition']}, {result['speakers']} speakers, {args.view} view)"
    print(format_report(name, result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
