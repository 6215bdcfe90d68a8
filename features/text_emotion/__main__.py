"""Score utterances with the shipped words model: one per line on stdin, one JSON object per line on stdout.

    python -m features.text_emotion --language zh|en [--explain] [--model-dir DIR] < utterances.txt

Each output line has the probability of each class (keys anger, disappointment, anxiety, confusion,
neutral; each calibrated at equal prior, independent of the others), and with --explain the words that drove
each class at 0.5 or more (`drivers`). Empty input lines give an empty object ({}), so outputs line up with
inputs. This is how the model is measured outside the service (features/text_emotion/model.py, the card in
trained_models/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from features.text_emotion.corpora import HEADS
from features.text_emotion.model import MODEL_DIR, TextEmotionModel, TextModelError

BATCH = 256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language", required=True, choices=("zh", "en"), help="the model to use")
    parser.add_argument("--explain", action="store_true", help="also give the words behind each likely class")
    parser.add_argument("--model-dir", type=Path, default=MODEL_DIR, help="where the model files are")
    args = parser.parse_args(argv)
    try:
        model = TextEmotionModel.load(args.language, args.model_dir)
    except TextModelError as exc:
        print(f"text_emotion: {exc}", file=sys.stderr)
        return 2
    lines = [line.rstrip("\n") for line in sys.stdin]
    for start in range(0, len(lines), BATCH):
        batch = lines[start : start + BATCH]
        texts = [t for t in batch if t.strip()]
        probs = iter(model.probabilities(texts)) if texts else iter(())
        for text in batch:
            if not text.strip():
                print("{}")
                continue
            out: dict[str, object] = {h: round(float(p), 4) for h, p in zip(HEADS, next(probs), strict=True)}
            if args.explain:
                likely = tuple(h for h in HEADS if h != "neutral" and out[h] >= 0.5)  # type: ignore[operator]
                scored = model.score(text, explain=likely)
                out["drivers"] = {h: [d.text for d in ds] for h, ds in scored.drivers.items() if ds}
            print(json.dumps(out, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
