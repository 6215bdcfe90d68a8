"""Transcription accuracy and cost per decode setting, side by side in one run.

Telephone utterances as the service cuts them: RAVDESS (English) and CASIA (Mandarin) clips through a phone
line (8 kHz, G.711 mu-law), resampled to 16 kHz and cut by the service's own endpointer (Silero + loud
voiced speech), each utterance decoded alone as a live call decodes it. Per setting:
  - English WER and Mandarin CER against the corpus sentences (jiwer; Mandarin per character);
  - CPU seconds per utterance and per second of speech (one decode at a time, one thread: what one
    transcription worker spends);
  - the ratio of each to the first setting ("today": the whole 30 s window Whisper was trained on), and a
    paired 95% bootstrap interval of each setting's error minus the first's over the same clips (a CI that
    contains 0: this run cannot tell them apart).
Settings vary the encoder window (`DecodeOptions.window_s`: the utterance padded with silence to this many
seconds instead of 30) and whether each utterance is brought to one level first (`--levels level,raw`:
`DecodeOptions.level_normalise`, the default since issue 23). Writes bench/results/transcription.json.

    python -m bench.transcription [--clips 40] [--windows 30,15,10,8,6] [--levels level,raw] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import soxr

from features.corpus import Clip, read_labels, shared_data_dir
from features.telephone import degrade
from features.threads import one_blas_thread
from service.transcription.model_files import DEFAULT_MODEL
from service.transcription.utterances import UtteranceSegmenter
from service.transcription.vad import SileroModel
from service.transcription.whisper import DecodeOptions, Transcriber
from tests.textmetrics import cer_zh, wer

RESULTS = Path(__file__).resolve().parent / "results"


def utterances(clip: Clip, vad: SileroModel) -> list[np.ndarray]:
    """The clip as a phone line delivers it, cut into utterances by the service's endpointer (16 kHz)."""
    line = degrade(clip.load(16000), 16000, out_rate_hz=8000)
    wide = soxr.resample(np.concatenate([line, np.zeros(8000, np.float32)]), 8000, 16000).astype(np.float32)
    seg = UtteranceSegmenter(vad)
    out = []
    for i in range(0, len(wide), 320):
        out += seg.push(wide[i : i + 320])
    out += seg.finish()
    return [u.audio for u in out]


def paired_difference_ci(errors: np.ndarray, reference: np.ndarray, *, n: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of mean(errors - reference) over the same clips (resampling clips, paired): an
    interval that contains 0 means the run cannot tell the two settings apart (Koehn 2004, "Statistical
    significance tests for machine translation evaluation", paired bootstrap resampling)."""
    diff = errors - reference
    rng = np.random.default_rng(0)
    means = diff[rng.integers(0, len(diff), size=(n, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=40, help="clips per language (default 40)")
    parser.add_argument(
        "--windows", default="30,15,10,8,6", help="encoder windows in seconds; the first is the reference"
    )
    parser.add_argument("--levels", default="level", help="level (brought to one level first), raw, or both")
    parser.add_argument("--out", default=str(RESULTS / "transcription.json"))
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if not (data / "ravdess" / "LABELS.csv").exists():
        print(f"bench: speech corpora not found at {data}; set CALLGUARD_SHARED_DATA", file=sys.stderr)
        return 2
    one_blas_thread()
    rng = random.Random(0)
    sets = {
        "en": rng.sample(read_labels(data / "ravdess" / "LABELS.csv"), args.clips),
        "zh": rng.sample(read_labels(data / "casia" / "LABELS.csv"), args.clips),
    }
    vad = SileroModel()
    print(f"cutting {2 * args.clips} telephone clips into utterances ...", file=sys.stderr, flush=True)
    cut = {lang: [(clip, utterances(clip, vad)) for clip in clips] for lang, clips in sets.items()}
    speech_s = {lang: sum(len(u) for _, us in rows for u in us) / 16000 for lang, rows in cut.items()}
    n_utt = {lang: sum(len(us) for _, us in rows) for lang, rows in cut.items()}
    transcriber = Transcriber(DEFAULT_MODEL, cpu_threads=1, workers=1)
    transcriber.warm_up()
    rows = []
    per_clip: dict[tuple[float, str], np.ndarray] = {}
    settings = [(float(w), lv) for w in args.windows.split(",") for lv in args.levels.split(",")]
    for window, level in settings:
        options = DecodeOptions(window_s=window, level_normalise=level == "level")
        row: dict = {"window_s": window, "input": level}
        for lang, pairs in cut.items():
            errors, cpu = [], 0.0
            for clip, utts in pairs:
                t0 = time.process_time()
                texts = [
                    s.text
                    for u in utts
                    for s in transcriber.transcribe(u, languages=("zh", "en"), offset_s=0.0, options=options).segments
                ]
                cpu += time.process_time() - t0
                text = " ".join(texts)
                errors.append(wer(clip.sentence, text) if lang == "en" else cer_zh(clip.sentence, text))
            metric = "wer" if lang == "en" else "cer"
            row[f"{lang}_{metric}"] = round(float(np.mean(errors)), 3)
            per_clip[(window, level, lang)] = np.asarray(errors)
            row[f"{lang}_cpu_s_per_utterance"] = round(cpu / max(1, n_utt[lang]), 3)
            row[f"{lang}_cpu_s_per_speech_s"] = round(cpu / speech_s[lang], 3)
        rows.append(row)
        print(
            f"window {window:>4.0f} s, {level}: en WER {row['en_wer']:.3f}, zh CER {row['zh_cer']:.3f}, "
            f"CPU-s per utterance en {row['en_cpu_s_per_utterance']:.2f} zh {row['zh_cpu_s_per_utterance']:.2f}",
            file=sys.stderr,
            flush=True,
        )
    ref = rows[0]
    for row in rows:
        for lang, metric in (("en", "wer"), ("zh", "cer")):
            low, high = paired_difference_ci(
                per_clip[(row["window_s"], row["input"], lang)], per_clip[(ref["window_s"], ref["input"], lang)]
            )
            row[f"{lang}_{metric}_minus_first_ci95"] = [round(low, 3), round(high, 3)]
        row["cpu_ratio_to_first"] = round(
            (row["en_cpu_s_per_utterance"] + row["zh_cpu_s_per_utterance"])
            / (ref["en_cpu_s_per_utterance"] + ref["zh_cpu_s_per_utterance"]),
            3,
        )
    report = {
        "benchmark": "transcription",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "clips_per_language": args.clips,
        "utterances": n_utt,
        "speech_s": {k: round(v, 1) for k, v in speech_s.items()},
        "settings": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\n{'window':>7} {'input':>5} {'en WER':>7} {'vs first (95% CI)':>18} {'zh CER':>7} {'vs first (95% CI)':>18} "
        f"{'CPU-s/utt en':>13} {'zh':>6} {'CPU vs first':>13}"
    )
    for r in rows:
        en_lo, en_hi = r["en_wer_minus_first_ci95"]
        zh_lo, zh_hi = r["zh_cer_minus_first_ci95"]
        print(
            f"{r['window_s']:>6.0f}s {r['input']:>5} {r['en_wer']:>7.3f} {f'[{en_lo:+.3f}, {en_hi:+.3f}]':>18} {r['zh_cer']:>7.3f} "
            f"{f'[{zh_lo:+.3f}, {zh_hi:+.3f}]':>18} {r['en_cpu_s_per_utterance']:>13.2f} "
            f"{r['zh_cpu_s_per_utterance']:>6.2f} {r['cpu_ratio_to_first']:>12.2f}x"
        )
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
