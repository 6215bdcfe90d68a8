"""Word and character error rates with the normalisation ASR evaluations use (case, punctuation)."""

from __future__ import annotations

import re
import unicodedata

import jiwer


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def wer(reference: str, hypothesis: str) -> float:
    return jiwer.wer(normalise(reference), normalise(hypothesis) or "<empty>")


def cer_zh(reference: str, hypothesis: str) -> float:
    """Character error rate for Chinese: one character is one unit, spaces ignored."""
    ref = normalise(reference).replace(" ", "")
    hyp = normalise(hypothesis).replace(" ", "")
    return jiwer.cer(ref, hyp or "∅")
