"""The emotion-labelled text in ../shared/text, read into one shape with our five classes.

Classes (HEADS): anger, disappointment, anxiety (worry, impatience), confusion (not understanding), neutral
(calm: none of the other four). No set labels all five in both languages, so each row says what it knows:
`labels` (the classes it is, among EMOTIONS) or None, and `confusion` (True/False) or None.

| source | language | licence | maps |
|---|---|---|---|
| SMP2020-EWECT (Weibo) | zh | research use (evaluation data) | angry, sad->disappointment, fear->anxiety, neutral, happy->neutral; surprise left out |
| CPED (TV dialogue) | zh | Apache-2.0 | anger, disgust->anger, depress/sadness->disappointment, worried/fear->anxiety, neutral/relaxed/happy/grateful/positive-other->neutral; astonished, negative-other left out; confusion: the dialogue act "question" (a proxy: see the model card) |
| EmpatheticPersonas | zh, en | MIT | sad->disappointment, angry, happy->neutral, anxious/scared->anxiety |
| GoEmotions (Reddit) | en | Apache-2.0 | anger/annoyance->anger, disappointment/sadness/grief->disappointment, fear/nervousness->anxiety, confusion, neutral and the positive emotions and curiosity->neutral; rows whose labels map to two classes left out |
| DUTIR emotion lexicon | zh | research use | each word a row: 愤怒/烦闷 -> anger, 失望/悲伤 -> disappointment, 慌/恐惧 -> anxiety |
| STC-3 (Weibo helpdesk) | zh, en | CC BY 4.0 (annotations) | never trained on: dialogue-level satisfaction, for evaluation |

Disappointment has no label of its own in Chinese: sadness (SMP2020, EmpatheticPersonas) and CPED's depress
stand in for it. Split units (`group`): a CPED dialogue, an STC-3 dialogue, otherwise the row.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from features.corpus import REPO_ROOT

HEADS: tuple[str, ...] = ("anger", "disappointment", "anxiety", "confusion", "neutral")
EMOTIONS: tuple[str, ...] = ("anger", "disappointment", "anxiety", "confusion", "neutral")
LANGUAGES = ("zh", "en")

LICENCES = {
    "smp2020": "research use (SMP2020-EWECT evaluation data; no licence in the copy)",
    "cped": "Apache-2.0",
    "ep": "MIT",
    "goemotions": "Apache-2.0",
    "dutir": "research use; commercial use needs DUTIR's permission",
    "stc3": "CC BY 4.0 (annotations)",
}
PERMISSIVE = frozenset({"cped", "ep", "goemotions", "stc3"})


def shared_text_dir() -> Path:
    """`CALLGUARD_SHARED_TEXT`, else ../shared/text beside the repository."""
    return Path(os.environ.get("CALLGUARD_SHARED_TEXT", REPO_ROOT.parent / "shared" / "text"))


@dataclass(frozen=True)
class TextRow:
    text: str
    language: str
    source: str
    group: str  # split unit (dialogue, or the row itself)
    labels: frozenset[str] | None  # classes among EMOTIONS it is; None: no emotion label
    confusion: bool | None = None  # None: the row says nothing about confusion
    split: str = "train"  # the source's own split, where it has one

    def knows(self, head: str) -> bool:
        if head == "confusion":
            return self.confusion is not None or (self.labels is not None and "confusion" in self.labels)
        return self.labels is not None

    def is_(self, head: str) -> bool:
        if head == "confusion":
            return bool(self.confusion) or (self.labels is not None and "confusion" in self.labels)
        if head == "neutral":
            return self.labels == frozenset({"neutral"})
        return self.labels is not None and head in self.labels


def _one(label: str | None) -> frozenset[str] | None:
    return None if label is None else frozenset({label})


_SMP = {"angry": "anger", "sad": "disappointment", "fear": "anxiety", "neutral": "neutral", "happy": "neutral"}
_CPED = {
    "anger": "anger", "disgust": "anger", "depress": "disappointment", "sadness": "disappointment",
    "worried": "anxiety", "fear": "anxiety", "neutral": "neutral", "relaxed": "neutral", "happy": "neutral",
    "grateful": "neutral", "positive-other": "neutral",
}  # fmt: skip
_EP = {"0": "disappointment", "1": "anger", "2": "neutral", "3": "anxiety"}
_GO = {
    "anger": "anger", "annoyance": "anger", "disappointment": "disappointment", "sadness": "disappointment",
    "grief": "disappointment", "fear": "anxiety", "nervousness": "anxiety", "confusion": "confusion",
    **{k: "neutral" for k in (
        "neutral", "curiosity", "admiration", "amusement", "approval", "caring", "desire", "excitement",
        "gratitude", "joy", "love", "optimism", "pride", "relief")},
}  # fmt: skip
# CPED dialogue acts that are not questions (its 'question' act is the Chinese confusion proxy)
_NOT_QUESTION = {"statement-non-opinion", "statement-opinion", "answer", "acknowledge", "agreement", "thanking",
                 "apology", "greeting", "appreciation", "conventional-closing", "command", "comfort"}  # fmt: skip


def smp2020(root: Path) -> Iterator[TextRow]:
    base = root / "zh" / "smp2020-ewect"
    for part, split in (("usual_train", "train"), ("usual_eval_labeled", "dev"), ("usual_test_labeled", "test")):
        with open(base / f"{part}.csv", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                label = _SMP.get(row["情绪标签"].strip())
                if label:
                    yield TextRow(
                        row["文本"], "zh", "smp2020", f"smp-{part}-{row['数据编号']}", _one(label), None, split
                    )
    for part, split in (("virus_train", "train"), ("virus_eval_labeled", "dev"), ("virus_test_labeled", "test")):
        for row in json.loads((base / f"{part}.json").read_text(encoding="utf-8")):
            label = _SMP.get(str(row["label"]).strip())
            if label:
                yield TextRow(row["content"], "zh", "smp2020", f"smp-{part}-{row['id']}", _one(label), None, split)


def cped(root: Path) -> Iterator[TextRow]:
    for part in ("test_split", "valid_split"):
        with open(root / "zh" / "cped" / f"{part}.csv", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                da = row["DA"]
                confusion = True if da == "question" else (False if da in _NOT_QUESTION else None)
                label = _CPED.get(row["Emotion"])
                if label or confusion is not None:
                    yield TextRow(row["Utterance"], "zh", "cped", f"cped-{row['Dialogue_ID']}", _one(label), confusion)


def empathetic_personas(root: Path, language: str) -> Iterator[TextRow]:
    with open(root / language / "empathetic-personas" / f"{language}.csv", encoding="utf-8-sig") as f:
        for i, row in enumerate(csv.DictReader(f)):
            label = _EP.get(str(row["labels"]).strip())
            if label:
                yield TextRow(row["text"], language, "ep", f"ep-{i}", _one(label))


def goemotions(root: Path) -> Iterator[TextRow]:
    base = root / "en" / "goemotions"
    names = (base / "labels.txt").read_text().split()
    for split in ("train", "dev", "test"):
        with open(base / f"{split}.tsv", encoding="utf-8") as f:
            for line in f:
                text, ids, comment = line.rstrip("\n").split("\t")
                mapped = {_GO.get(names[int(i)]) for i in ids.split(",")}
                if None in mapped and len(mapped) > 1:
                    mapped.discard(None)
                if len(mapped) != 1 or None in mapped:
                    continue  # unmapped labels only, or two of our classes at once
                label = next(iter(mapped))
                confusion = label == "confusion"
                labels = None if confusion else frozenset({label})
                # a confused comment is not calm and not angry/sad/anxious: it says "no" to those heads too
                labels = frozenset({"confusion"}) if confusion else labels
                yield TextRow(text, "en", "goemotions", f"go-{comment}", labels, confusion, split)


def rows(language: str, sources: tuple[str, ...] | None = None, root: Path | None = None) -> list[TextRow]:
    """Every labelled row of `language` from `sources` (default: all that have that language)."""
    root = root or shared_text_dir()
    readers = {
        "zh": {
            "smp2020": lambda: smp2020(root),
            "cped": lambda: cped(root),
            "ep": lambda: empathetic_personas(root, "zh"),
            "dutir": lambda: dutir_rows(root),
        },
        "en": {"goemotions": lambda: goemotions(root), "ep": lambda: empathetic_personas(root, "en")},
    }[language]
    chosen = sources or tuple(readers)
    unknown = set(chosen) - set(readers)
    if unknown:
        raise ValueError(f"no {language} source named {sorted(unknown)}; have {sorted(readers)}")
    return [r for s in chosen for r in readers[s]() if r.text and r.text.strip()]


@dataclass(frozen=True)
class Dialogue:
    """An STC-3 helpdesk dialogue: the customer's turns and the annotators' mean satisfaction (-2..2)."""

    id: str
    customer_turns: tuple[str, ...]
    satisfaction: float


def stc3(language: str, root: Path | None = None) -> list[Dialogue]:
    root = root or shared_text_dir()
    data = json.loads((root / "zh" / "stc3" / f"dialogues_{'cn' if language == 'zh' else 'en'}.json").read_text())
    out = []
    for d in data:
        turns = tuple(" ".join(t["utterances"]) for t in d["turns"] if t["sender"] == "customer")
        s = float(np.mean([a["quality"]["S"] for a in d["annotations"]]))
        out.append(Dialogue(str(d["id"]), turns, s))
    return out


def dutir_rows(root: Path) -> Iterator[TextRow]:
    """DUTIR's emotion words as labelled rows (a word of the 失望 category is a row labelled disappointment):
    they teach the model words the sentence sets use rarely. Doubt (怀疑) words are left out: our Chinese
    confusion head is about asking (CPED's question act), not distrust."""
    for i, (word, (cls, _)) in enumerate(sorted(dutir_lexicon(root).items())):
        if cls != "confusion":
            yield TextRow(word, "zh", "dutir", f"dutir-{i}", frozenset({cls}))


def dutir_lexicon(root: Path | None = None) -> dict[str, tuple[str, float]]:
    """DUTIR emotion words mapped to our classes: word -> (class, intensity 1-9 scaled to 0-1). Categories:
    NA 愤怒 and NE 烦闷 -> anger, NJ 失望 and NB 悲伤 -> disappointment, NI 慌 and ND 恐惧... -> anxiety (see
    _DUTIR), NL 怀疑 -> confusion. Research use only."""
    root = root or shared_text_dir()
    out: dict[str, tuple[str, float]] = {}
    with open(root / "zh" / "dutir-lexicon.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            cls = _DUTIR.get(cols[4].strip()) if len(cols) > 5 else None
            if cls and len(cols[0]) >= 2:
                try:
                    out[cols[0]] = (cls, int(cols[5]) / 9.0)
                except ValueError:
                    continue
    return out


# DUTIR's codes (Xu Linhong et al. 2008, "Constructing the affective lexicon ontology"): NA anger, NB sadness,
# NJ disappointment, NE annoyance (烦闷), NI panic (慌), NC fear (恐惧), NL doubt (怀疑).
_DUTIR = {"NA": "anger", "NE": "anger", "NB": "disappointment", "NJ": "disappointment", "NI": "anxiety",
          "NC": "anxiety", "NL": "confusion"}  # fmt: skip
