"""What we report for the words model: per class AUC, F1 at its decision line and calibration; the share of
calm utterances flagged; STC-3 dialogue satisfaction from the customer's turns; beside today's phrase lists."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from features.text_emotion.corpora import HEADS, Dialogue, TextRow
from features.text_emotion.model import TextEmotionModel


def balanced_ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error with positives and negatives weighted equally (the model is calibrated at
    equal prior): sum over probability bins of |mean p - weighted share positive| x weighted bin mass."""
    w = np.where(y, 0.5 / max(1, y.sum()), 0.5 / max(1, (~y).sum()))
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (p >= lo) & ((p < hi) | (hi == 1.0))
        if inside.any():
            mass = w[inside].sum()
            total += mass * abs(np.average(p[inside], weights=w[inside]) - (w[inside] * y[inside]).sum() / mass)
    return float(total)


def evaluate_rows(model: TextEmotionModel, rows: list[TextRow], proba: np.ndarray | None = None) -> dict[str, Any]:
    """Per head the test rows label: n, positives, ROC AUC, F1 and recall at the model's line, balanced ECE;
    and per emotion the share of calm (neutral) rows flagged at its line."""
    p = model.probabilities([r.text for r in rows]) if proba is None else proba
    calm = np.array([r.is_("neutral") for r in rows])
    out: dict[str, Any] = {"n": len(rows)}
    for h, head in enumerate(HEADS):
        if head not in model.meta.get("trained_heads", HEADS):
            out[head] = "not labelled in the training sets"
            continue
        known = np.array([r.knows(head) for r in rows])
        y = np.array([r.is_(head) for r in rows])[known]
        if not known.any() or y.all() or not y.any():
            continue
        ph, line = p[known, h], model.line(head)
        out[head] = {
            "n": int(known.sum()),
            "positive": int(y.sum()),
            "auc": round(float(roc_auc_score(y, ph)), 4),
            "f1": round(float(f1_score(y, ph >= line)), 4),
            "recall": round(float((ph[y] >= line).mean()), 4),
            "line": line,
            "balanced_ece": round(balanced_ece(ph, y), 4),
        }
        if head != "neutral" and calm.any():
            out[head]["neutral_flagged"] = round(float((p[calm, h] >= line).mean()), 4)
    return out


# The urgency and confusion word lists of the default policy before the words model replaced them (issue 23),
# kept here only to measure the model beside them.
PREVIOUS_LISTS = """
[[phrase_rule]]
reason = "ANXIETY_URGENCY"
level = "MEDIUM"
phrases = ["快点", "快一点", "赶紧", "赶快", "马上", "尽快", "等不及", "急死了", "着急", "还要等多久", "要等多久",
  "hurry", "right now", "right away", "asap", "as soon as possible", "immediately", "how much longer",
  "i can't wait", "i cannot wait"]

[[phrase_rule]]
reason = "CONFUSION_PHRASE"
level = "LOW"
phrases = ["什么意思", "听不懂", "没听懂", "不明白", "搞不懂", "看不懂", "怎么用", "怎么弄", "怎么操作", "不太清楚",
  "what do you mean", "i don't understand", "i do not understand", "i'm confused", "i am confused",
  "i don't get it", "how does it work", "how do i use"]
"""


def phrase_flags(texts: list[str], reasons: tuple[str, ...]) -> np.ndarray:
    """Whether the phrase lists of `reasons` match each text: the default policy's (threats, repeat contact)
    and the urgency and confusion lists it had before the words model (PREVIOUS_LISTS)."""
    from service.escalation.detector import _match
    from service.escalation.policy import DEFAULT_POLICY_FILE, load_policy, parse_policy
    from service.escalation.text import normalise

    lists = [*load_policy(DEFAULT_POLICY_FILE).phrase_rules, *parse_policy(PREVIOUS_LISTS).phrase_rules]
    rules = [r for r in lists if r.reason in reasons]
    return np.array([any(_match(rule, normalise(t)) for rule in rules) for t in texts])


def phrase_rows(rows: list[TextRow], head: str, reasons: tuple[str, ...]) -> dict[str, Any]:
    """Today's phrase lists as a classifier of `head`: recall on its rows and the share of calm rows matched."""
    flags = phrase_flags([r.text for r in rows], reasons)
    y = np.array([r.is_(head) for r in rows])
    calm = np.array([r.is_("neutral") for r in rows])
    return {
        "rules": list(reasons),
        "recall": round(float(flags[y].mean()), 4) if y.any() else None,
        "neutral_flagged": round(float(flags[calm].mean()), 4) if calm.any() else None,
    }


def dissatisfaction(p: np.ndarray) -> np.ndarray:
    """Per customer turn: the stronger of anger and disappointment (dissatisfaction shows as either)."""
    return np.maximum(p[:, HEADS.index("anger")], p[:, HEADS.index("disappointment")])


def stc3_report(model: TextEmotionModel, dialogues: list[Dialogue], flag_satisfied: float = 0.10) -> dict[str, Any]:
    """STC-3, never trained on: does the customer's most upset turn tell a dissatisfied customer (mean S < 0)
    from a satisfied one (S > 0; S = 0 left out)? AUC; and at the line that flags `flag_satisfied` of the
    satisfied dialogues of one half (chosen by dialogue id), the shares flagged in the other half; beside
    today's anger and complaint phrase lists (any customer turn matching)."""
    kept = [d for d in dialogues if d.satisfaction != 0 and d.customer_turns]
    turns = [t for d in kept for t in d.customer_turns]
    scores = dissatisfaction(model.probabilities(turns))
    per_dialogue, i = [], 0
    for d in kept:
        per_dialogue.append(float(scores[i : i + len(d.customer_turns)].max()))
        i += len(d.customer_turns)
    s = np.array(per_dialogue)
    y = np.array([d.satisfaction < 0 for d in kept])
    half = np.array([int(d.id[-1], 16) % 2 == 0 if d.id[-1].isalnum() else True for d in kept])
    line = float(np.quantile(s[half & ~y], 1 - flag_satisfied))
    flags = phrase_flags(turns, ("THREAT_PHRASE", "REPEAT_CONTACT"))
    phrase_d, i = [], 0
    for d in kept:
        phrase_d.append(bool(flags[i : i + len(d.customer_turns)].any()))
        i += len(d.customer_turns)
    phrase = np.array(phrase_d)
    test = ~half
    return {
        "dialogues": len(kept),
        "dissatisfied": int(y.sum()),
        "satisfied": int((~y).sum()),
        "auc": round(float(roc_auc_score(y, s)), 4),
        "line": round(line, 4),
        "test_half": {
            "dissatisfied_flagged": round(float((s[test & y] >= line).mean()), 4),
            "satisfied_flagged": round(float((s[test & ~y] >= line).mean()), 4),
        },
        "phrase_lists": {
            "dissatisfied_flagged": round(float(phrase[y].mean()), 4),
            "satisfied_flagged": round(float(phrase[~y].mean()), 4),
        },
    }
