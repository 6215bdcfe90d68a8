"""Train the words models on the labelled text in ../shared/text and measure them on sets they never saw.

    python -m features.text_emotion.train [--language zh,en] [--out trained_models]
        [--results bench/results/text_emotion.json] [--skip-cross] [--json]

Protocol (nothing is both trained on and tested; split units are dialogues, see corpora.py):
- cross-dataset, zh: SMP2020 + CPED -> EmpatheticPersonas-zh; EmpatheticPersonas-zh + CPED -> SMP2020's
  test split; SMP2020 + EmpatheticPersonas-zh -> CPED. en: GoEmotions (train, dev) -> EmpatheticPersonas-en
  and GoEmotions' test split; EmpatheticPersonas-en -> GoEmotions' test split. Per class the test set labels:
  ROC AUC, F1 and recall at the decision line, balanced calibration error, and the share of calm utterances
  flagged (goal <= 5% for anger), beside today's phrase lists.
- STC-3 (real helpdesk dialogues), never trained on: AUC of "this customer was dissatisfied" from the
  customer's turns, and the dissatisfied share flagged at a line flagging 10% of the satisfied.
- Licences: zh is also trained on the permissively licensed sets alone (CPED, EmpatheticPersonas; no
  SMP2020, no DUTIR lexicon), measured the same way, and saved as variants/zh_permissive.
The shipped models are then fitted on every set of their language and saved with their sidecars.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import sklearn

from features.corpus import REPO_ROOT
from features.dataset import CACHE_DIR
from features.text_emotion.corpora import LICENCES, PERMISSIVE, rows, stc3
from features.text_emotion.fit import describe, fit_model
from features.text_emotion.metrics import evaluate_rows, phrase_rows, stc3_report
from features.text_emotion.model import MODEL_DIR

RESULTS = REPO_ROOT / "bench" / "results" / "text_emotion.json"
PHRASES = {"anger": ("THREAT_PHRASE",), "anxiety": ("ANXIETY_URGENCY",), "confusion": ("CONFUSION_PHRASE",),
           "disappointment": ("REPEAT_CONTACT",)}  # fmt: skip

# (name, training sources, test source, test split or None for all rows)
CROSS = {
    "zh": (
        ("smp2020+cped+dutir -> ep", ("smp2020", "cped", "dutir"), "ep", None),
        ("ep+cped -> smp2020 test", ("ep", "cped"), "smp2020", "test"),
        ("smp2020+ep+dutir -> cped", ("smp2020", "ep", "dutir"), "cped", None),
        ("cped -> ep (permissive sets only)", ("cped",), "ep", None),
    ),
    "en": (
        ("goemotions -> ep", ("goemotions",), "ep", None),
        ("goemotions -> goemotions test", ("goemotions",), "goemotions", "test"),
        ("ep -> goemotions test", ("ep",), "goemotions", "test"),
    ),
}
SHIPPED = {  # variant -> (language, sources)
    "zh": ("zh", ("smp2020", "cped", "ep", "dutir")),
    "zh_permissive": ("zh", ("cped", "ep")),
    "en": ("en", ("goemotions", "ep")),
}


def _phrases(test: list) -> dict[str, Any]:
    return {
        head: phrase_rows(test, head, reasons) for head, reasons in PHRASES.items() if any(r.is_(head) for r in test)
    }


def cross_dataset(language: str) -> dict[str, Any]:
    out = {}
    for name, train_sources, test_source, split in CROSS[language]:
        print(f"cross-dataset {language}: {name}", file=sys.stderr, flush=True)
        train = rows(language, train_sources)
        test = [r for r in rows(language, (test_source,)) if split is None or r.split == split]
        if test_source in train_sources:  # the same set's other splits only
            train = [r for r in train if r.source != test_source or r.split != split]
        model, _ = fit_model(train, language, progress=False)
        out[name] = {"train_rows": len(train), **evaluate_rows(model, test), "phrase_lists": _phrases(test)}
        if test_source == "ep":  # bench/text_whisper.py scores EmpatheticPersonas through Whisper with it
            model.save(CACHE_DIR / "text_models" / f"{language}-not-ep")
        print(f"  {_line(out[name])}", file=sys.stderr, flush=True)
    return out


def _line(r: dict[str, Any]) -> str:
    parts = []
    for head in ("anger", "disappointment", "anxiety", "confusion", "neutral"):
        if isinstance(r.get(head), dict):
            h = r[head]
            extra = f" calm flagged {h['neutral_flagged']:.1%}" if "neutral_flagged" in h else ""
            parts.append(f"{head} AUC {h['auc']:.3f} F1 {h['f1']:.3f}{extra}")
    return "; ".join(parts)


def ship(variant: str, out_dir: Path) -> dict[str, Any]:
    language, sources = SHIPPED[variant]
    print(f"fitting {variant} on {', '.join(sources)}", file=sys.stderr, flush=True)
    started = time.monotonic()
    train = rows(language, sources)
    model, _ = fit_model(train, language)
    used = list(sources)
    model.meta.update(
        describe(
            model,
            name=f"callguard-text-emotion-{variant}",
            trained_on={s: LICENCES[s] for s in used},
            permissive_only=all(s in PERMISSIVE for s in used),
            rows=len(train),
            versions={"scikit-learn": sklearn.__version__, "python": sys.version.split()[0]},
            fit_s=round(time.monotonic() - started, 1),
        )
    )
    model.language = language
    path = model.save(out_dir) if variant in ("zh", "en") else _save_variant(model, variant, out_dir)
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    report = {"stc3": stc3_report(model, stc3(language)), "lines": model.meta["lines"], "file": str(shown)}
    print(f"  STC-3: {report['stc3']}", file=sys.stderr, flush=True)
    return report


def _save_variant(model: Any, variant: str, out_dir: Path) -> Path:
    """A second model of a language is saved under its own stem (text_emotion_<variant>)."""
    sub = out_dir / "variants" / variant
    path = model.save(sub)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--language", default="zh,en")
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--skip-cross", action="store_true", help="only fit and save the shipped models")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    started = time.monotonic()
    results: dict[str, Any] = json.loads(args.results.read_text()) if args.results.exists() else {}
    for language in args.language.split(","):
        if not args.skip_cross:
            results.setdefault("cross_dataset", {})[language] = cross_dataset(language)
        for variant, (lang, _) in SHIPPED.items():
            if lang == language:
                results.setdefault("shipped", {})[variant] = ship(variant, args.out)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"results in {args.results} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
