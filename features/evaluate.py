"""Evaluate the shipped emotion model on any corpus in the LABELS.csv format, without retraining.

    python -m features.evaluate LABELS.csv [--telephone] [--json OUT]

LABELS.csv needs the columns path (relative to the CSV's folder), speaker and emotion (angry, sad, neutral,
calm, happy, fear, disgust, surprise...). Each speaker is z-normalised over that speaker's own clips in the
evaluated set (never their labels), as the model was trained; every clip is scored.
`--telephone` first passes the audio through a simulated phone line (8 kHz, 300-3400 Hz, G.711 mu-law).
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
from features.dataset import extract, extract_embeddings
from features.metrics import format_report, report
from features.model import MODEL_DIR, EmotionModel, ModelIntegrityError


def evaluate(labels_csv: Path, *, telephone: bool, model_dir: Path = MODEL_DIR) -> dict:
    model = EmotionModel.load(model_dir)
    clips = read_labels(labels_csv)
    if not clips:
        raise ValueError(f"{labels_csv} lists no clips")
    table = extract(clips, telephone=telephone)
    x = np.hstack([table.x, extract_embeddings(clips, telephone=telephone)])
    inputs = speaker_znorm(x, table.speakers)
    result = report(table.labels, model.probabilities(inputs))
    result["corpus"] = str(labels_csv)
    result["condition"] = table.condition
    result["speakers"] = len(set(table.speakers))
    result["normalisation"] = "per-speaker z-score over the speaker's clips in this set"
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labels", type=Path, help="LABELS.csv of the corpus to evaluate on")
    parser.add_argument("--telephone", action="store_true", help="degrade the audio like a phone line first")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write the results to this JSON file")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="model to evaluate (default trained_models/)")
    args = parser.parse_args(argv)
    if not args.labels.exists():
        print(f"evaluate: {args.labels} not found", file=sys.stderr)
        return 2
    try:
        result = evaluate(args.labels, telephone=args.telephone, model_dir=args.model_dir)
    except (ModelIntegrityError, ValueError, KeyError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return 2
    print(format_report(f"{args.labels} ({result['condition']}, {result['speakers']} speakers)", result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
