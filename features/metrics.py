"""The numbers we report for an emotion model: UAR and ROC AUC for anger-vs-rest and sad-vs-rest, and the
3-class (angry / sad / neutral) UAR with its confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, recall_score, roc_auc_score

from features.dataset import CLASSES

THREE = ("angry", "sad", "neutral")


def uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted average recall: the mean of per-class recalls, so the majority class cannot hide errors."""
    return float(recall_score(y_true, y_pred, average="macro"))


def report(labels: np.ndarray, proba: np.ndarray) -> dict[str, Any]:
    """labels: (n,) class names; proba: (n, 4) one-vs-rest head probabilities in CLASSES order.

    X-vs-rest decides "X" where X's head says >= 0.5 (its balanced decision point, as the live service
    reads it); the 3-class decision is the most probable of the angry, sad and neutral heads."""
    out: dict[str, Any] = {"n": len(labels)}
    for key, cls in (("anger_vs_rest", "angry"), ("sad_vs_rest", "sad")):
        truth = labels == cls
        if truth.all() or not truth.any():
            out[key] = {"uar": None, "auc": None, "n_positive": int(truth.sum())}
            continue
        out[key] = {
            "uar": round(uar(truth, proba[:, CLASSES.index(cls)] >= 0.5), 4),
            "auc": round(float(roc_auc_score(truth, proba[:, CLASSES.index(cls)])), 4),
            "n_positive": int(truth.sum()),
        }
    three = np.isin(labels, THREE)
    if three.any():
        p3 = np.array(THREE)[proba[three][:, : len(THREE)].argmax(axis=1)]
        out["three_class"] = {
            "uar": round(uar(labels[three], p3), 4),
            "labels": list(THREE),
            "confusion": confusion_matrix(labels[three], p3, labels=list(THREE)).tolist(),
        }
    return out


def format_report(name: str, r: dict[str, Any]) -> str:
    def f(v: float | None) -> str:
        return "  -  " if v is None else f"{v:.3f}"

    lines = [
        f"{name}: {r['n']} clips scored",
        f"  anger vs rest   UAR {f(r['anger_vs_rest']['uar'])}  AUC {f(r['anger_vs_rest']['auc'])}",
        f"  sad vs rest     UAR {f(r['sad_vs_rest']['uar'])}  AUC {f(r['sad_vs_rest']['auc'])}",
    ]
    if "three_class" in r:
        t = r["three_class"]
        lines.append(
            f"  angry/sad/neutral  UAR {t['uar']:.3f}   confusion (rows true, cols predicted: {', '.join(t['labels'])})"
        )
        lines += [f"    {lab:8} {row}" for lab, row in zip(t["labels"], t["confusion"], strict=True)]
    return "\n".join(lines)
