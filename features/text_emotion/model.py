"""The words model: per utterance, calibrated probabilities of the five classes, and the words behind each.

One model per language. Inputs (scikit-learn TF-IDF, on features.text_emotion.normalise's text):
- zh: character 1-3-grams, and toneless-pinyin syllable 1-2-grams (Whisper's homophone errors keep the
  sound);
- en: word 1-2-grams and within-word character 2-5-grams (robust to Whisper's spelling of names and numbers).
Each class is a one-vs-rest logistic regression (class-balanced) over the rows that say something about it
(features.text_emotion.corpora.TextRow.knows), its decision value mapped to a probability by Platt scaling
fitted on out-of-fold decision values (grouped by dialogue), with classes weighted equally: a probability
here is calibrated at equal prior, so its logit is a log likelihood ratio that adds to the voice's (see
service/judgement/fusion.py). The five probabilities are independent and need not sum to 1.
Source: Platt 1999, "Probabilistic outputs for support vector machines".

On disk (no pickle): `text_emotion_<lang>.npz` (idf, coefficients, intercepts, Platt parameters) and
`text_emotion_<lang>.json` (vocabularies, lines, metrics, data and licences, the npz's SHA-256).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.feature_extraction.text import TfidfVectorizer

from features.corpus import REPO_ROOT
from features.text_emotion.corpora import HEADS
from features.text_emotion.normalise import normalise, pinyin

MODEL_DIR = REPO_ROOT / "trained_models"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class TextModelError(Exception):
    """The words model's files are missing, corrupt or from another version of this code."""


@dataclass(frozen=True)
class Channel:
    """One TF-IDF view of the text."""

    name: str  # "chars", "pinyin", "words", "subwords"
    analyzer: str  # sklearn analyzer: "char", "word", "char_wb"
    ngram_range: tuple[int, int]
    max_features: int


CHANNELS: dict[str, tuple[Channel, ...]] = {
    "zh": (Channel("chars", "char", (1, 3), 200_000), Channel("pinyin", "word", (1, 2), 100_000)),
    "en": (Channel("words", "word", (1, 2), 100_000), Channel("subwords", "char_wb", (2, 5), 150_000)),
}
TOKEN_PATTERN = r"(?u)\b\w+\b"  # single-letter words count ("i", "u")


def channel_text(channel: Channel, normalised: str) -> str:
    return pinyin(normalised) if channel.name == "pinyin" else normalised


def new_vectoriser(channel: Channel, **kwargs: Any) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer=channel.analyzer,
        ngram_range=channel.ngram_range,
        max_features=channel.max_features,
        min_df=2,
        sublinear_tf=True,
        lowercase=False,
        token_pattern=TOKEN_PATTERN if channel.analyzer == "word" else None,
        dtype=np.float32,
        **kwargs,
    )


@dataclass(frozen=True)
class Driver:
    """Words of the utterance that pushed a class up, with how much (logit contribution)."""

    text: str
    weight: float


@dataclass(frozen=True)
class TextScores:
    """One utterance's probabilities per class (HEADS order) and, for the classes asked, what drove them."""

    language: str
    probabilities: dict[str, float]
    drivers: dict[str, tuple[Driver, ...]] = field(default_factory=dict)

    def top(self) -> tuple[str, float]:
        cls = max((h for h in HEADS if h != "neutral"), key=lambda h: self.probabilities[h])
        return cls, self.probabilities[cls]


@dataclass
class TextEmotionModel:
    language: str
    vectorisers: list[TfidfVectorizer]
    channels: tuple[Channel, ...]
    coef: np.ndarray  # (len(HEADS), n_features) float32
    intercept: np.ndarray  # (len(HEADS),)
    platt: np.ndarray  # (len(HEADS), 2): p = expit(a * decision + b)
    meta: dict[str, Any] = field(default_factory=dict)

    # ---- inference ------------------------------------------------------------------------------------
    def features(self, normalised: list[str]) -> sp.csr_matrix:
        blocks = [
            v.transform([channel_text(c, t) for t in normalised])
            for v, c in zip(self.vectorisers, self.channels, strict=True)
        ]
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def decision(self, x: sp.csr_matrix) -> np.ndarray:
        return np.asarray(x @ self.coef.T) + self.intercept

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(n, len(HEADS)) calibrated probabilities for raw texts (normalised here)."""
        normalised = [normalise(t, self.language) for t in texts]
        d = self.decision(self.features(normalised))
        return expit(d * self.platt[:, 0] + self.platt[:, 1])

    def score(self, text: str, *, explain: tuple[str, ...] = ()) -> TextScores:
        """One utterance: its five probabilities, and the words that drove each class in `explain`."""
        norm = normalise(text, self.language)
        x = self.features([norm])
        p = expit(self.decision(x)[0] * self.platt[:, 0] + self.platt[:, 1])
        probs = {h: float(v) for h, v in zip(HEADS, p, strict=True)}
        drivers = {h: self._drivers(norm, x, HEADS.index(h)) for h in explain} if norm else {}
        return TextScores(self.language, probs, drivers)

    def _drivers(self, norm: str, x: sp.csr_matrix, head: int, top: int = 3) -> tuple[Driver, ...]:
        """Spans of the normalised text whose n-grams pushed `head` up: each n-gram's contribution (tf-idf x
        weight) spread over the characters it covers, then runs of positive characters."""
        per_char = np.zeros(len(norm))
        offset = 0
        row = x.getrow(0)
        values = dict(zip(row.indices.tolist(), row.data.tolist(), strict=True))
        for vec, channel in zip(self.vectorisers, self.channels, strict=True):
            vocab = vec.vocabulary_
            occurrences: dict[int, list[tuple[int, int]]] = {}
            for gram, start, end in _grams(channel, norm):
                j = vocab.get(gram)
                if j is not None:
                    occurrences.setdefault(j, []).append((start, end))
            for j, spans in occurrences.items():
                contribution = values.get(offset + j, 0.0) * float(self.coef[head, offset + j]) / len(spans)
                for start, end in spans:
                    per_char[start:end] += contribution / max(1, end - start)
            offset += len(vocab)
        return _spans(norm, per_char, top)

    # ---- storage --------------------------------------------------------------------------------------
    def save(self, directory: Path = MODEL_DIR) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        stem = f"text_emotion_{self.language}"
        arrays = {"coef": self.coef.astype(np.float32), "intercept": self.intercept, "platt": self.platt}
        for i, v in enumerate(self.vectorisers):
            arrays[f"idf{i}"] = v.idf_.astype(np.float32)
        np.savez_compressed(directory / f"{stem}.npz", **arrays)
        vocabularies = [sorted(v.vocabulary_, key=v.vocabulary_.get) for v in self.vectorisers]
        meta = {
            **self.meta,
            "language": self.language,
            "heads": list(HEADS),
            "channels": [c.__dict__ | {"ngram_range": list(c.ngram_range)} for c in self.channels],
            "vocabularies": vocabularies,
            "sha256": hashlib.sha256((directory / f"{stem}.npz").read_bytes()).hexdigest(),
        }
        (directory / f"{stem}.json").write_text(json.dumps(meta, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.meta = {k: v for k, v in meta.items() if k != "vocabularies"}
        return directory / f"{stem}.npz"

    @classmethod
    def load(cls, language: str, directory: Path = MODEL_DIR) -> TextEmotionModel:
        """Load and verify the model of `language`. Raises TextModelError with what to do."""
        stem = f"text_emotion_{language}"
        sidecar, arrays_file = directory / f"{stem}.json", directory / f"{stem}.npz"
        if not sidecar.exists() or not arrays_file.exists():
            raise TextModelError(f"{arrays_file} is missing; train it with `python -m features.text_emotion.train`")
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        digest = hashlib.sha256(arrays_file.read_bytes()).hexdigest()
        if digest != meta.get("sha256"):
            raise TextModelError(
                f"{arrays_file} has SHA-256 {digest} but {sidecar} expects {meta.get('sha256')}: corrupt or replaced; "
                "retrain with `python -m features.text_emotion.train` or restore it from git"
            )
        if tuple(meta.get("heads", ())) != HEADS or meta.get("language") != language:
            raise TextModelError(f"{sidecar} is for other classes or another language; retrain it")
        channels = tuple(
            Channel(c["name"], c["analyzer"], tuple(c["ngram_range"]), c["max_features"]) for c in meta["channels"]
        )
        with np.load(arrays_file) as f:
            arrays = {k: f[k] for k in f.files}
        vectorisers = []
        for i, (channel, vocab) in enumerate(zip(channels, meta["vocabularies"], strict=True)):
            vec = new_vectoriser(channel, vocabulary={g: j for j, g in enumerate(vocab)})
            vec.idf_ = arrays[f"idf{i}"].astype(np.float64)
            vectorisers.append(vec)
        small = {k: v for k, v in meta.items() if k not in ("vocabularies", "lexicon", "lexicon_weight")}
        return cls(language, vectorisers, channels, arrays["coef"], arrays["intercept"], arrays["platt"], small)

    def line(self, head: str) -> float:
        """The decision line of `head` chosen in training (see the model card), 0.5 if none."""
        return float(self.meta.get("lines", {}).get(head, 0.5))


def _grams(channel: Channel, norm: str) -> list[tuple[str, int, int]]:
    """(n-gram, start, end) in `norm` for the channel's analyzer, as sklearn builds them."""
    lo, hi = channel.ngram_range
    out: list[tuple[str, int, int]] = []
    if channel.analyzer == "char":
        for n in range(lo, hi + 1):
            out += [(norm[i : i + n], i, i + n) for i in range(len(norm) - n + 1)]
        return out
    units = _units(norm)  # (token, start, end)
    if channel.name == "pinyin":
        tokens = [(pinyin(t) if _CJK.match(t) else t, s, e) for t, s, e in units]
    else:
        tokens = [(m.group(0), m.start(), m.end()) for m in re.finditer(TOKEN_PATTERN, norm)]
    if channel.analyzer == "word":
        for n in range(lo, hi + 1):
            for i in range(len(tokens) - n + 1):
                out.append((" ".join(t for t, _, _ in tokens[i : i + n]), tokens[i][1], tokens[i + n - 1][2]))
        return out
    for word, start, _end in tokens:  # char_wb: n-grams of " word " within the word
        padded = f" {word} "
        for n in range(lo, hi + 1):
            for i in range(len(padded) - n + 1):
                a, b = max(0, i - 1), min(len(word), i + n - 1)
                out.append((padded[i : i + n], start + a, start + max(a + 1, b)))
    return out


def _units(norm: str) -> list[tuple[str, int, int]]:
    """Chinese characters one by one and other words whole, with their spans (the pinyin view's tokens)."""
    out = []
    for m in re.finditer(r"[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+", norm):
        out.append((m.group(0), m.start(), m.end()))
    return out


def _spans(norm: str, per_char: np.ndarray, top: int) -> tuple[Driver, ...]:
    """Runs of characters with a clearly positive contribution, strongest first; a run that touches part of
    a Latin word takes the whole word (Chinese runs stay as they are: every character is a word part)."""
    if not len(per_char) or per_char.max() <= 0:
        return ()
    keep = per_char > 0.15 * per_char.max()
    for m in re.finditer(r"[^\s\u3400-\u9fff\uf900-\ufaff]+", norm):  # whole Latin words
        if keep[m.start() : m.end()].any():
            keep[m.start() : m.end()] = True
    drivers = []
    i = 0
    while i < len(norm):
        if not keep[i] or norm[i] == " ":
            i += 1
            continue
        j = i
        while j < len(norm) and (keep[j] or (norm[j] == " " and j + 1 < len(norm) and keep[j + 1])):
            j += 1
        drivers.append(Driver(norm[i:j].strip(), float(per_char[i:j].sum())))
        i = j
    drivers.sort(key=lambda d: -d.weight)
    return tuple(d for d in drivers[:top] if d.text)
