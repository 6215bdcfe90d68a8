"""An alert's evidence from judged utterances: what was said and how it sounded, as structured fields (the
phrase, the class, the scores; shown in any language) and one readable line, e.g.

    anger 0.82 (peak 0.91) over 2 utterances, 4 s of speech: said "你们这什么破服务" (words: anger 0.93,
    "破服务"); voice: anger 0.55, pitch +3.1 st, loudness +8.5 dB vs. baseline
"""

from __future__ import annotations

import math
from typing import Any

from service.judgement.results import UtteranceJudgement

_CLASS_OF = {"voice_disappointment": "disappointment"}


def emotion_of(score_name: str) -> str:
    """The emotion a score is about: "words_anger" and "voice_anger" -> "anger"."""
    return _CLASS_OF.get(score_name, score_name.split("_", 1)[-1] if "_" in score_name else score_name)


def voice_value(j: UtteranceJudgement, emotion: str) -> float:
    """The voice's probability for `emotion` as the fusion used it (NaN where the voice has no model of it:
    anxiety, confusion)."""
    if emotion in ("anger", "disappointment"):
        return j.score(f"voice_{emotion}")
    return math.nan


def judged_evidence(
    score_name: str,
    mean: float,
    peak: float,
    speech_s: float,
    judged: list[UtteranceJudgement],
    pitch: float,
    loudness: float,
) -> dict[str, Any]:
    """Alert fields for a run of judged utterances: the strongest one is quoted, with its words' class,
    probability and driving phrase, and its voice's probability; pitch and loudness are the run's medians."""
    emotion = emotion_of(score_name)
    strongest = max(judged, key=lambda j: j.score(score_name) if not math.isnan(j.score(score_name)) else -1.0)
    words = strongest.words
    words_score = float(getattr(words, emotion)) if words is not None else math.nan
    phrase = words.phrase(emotion) if words is not None else ""
    voice = voice_value(strongest, emotion)
    count = f"{len(judged)} utterance{'s' if len(judged) != 1 else ''}"
    parts = [f"{score_name} {mean:.2f} (peak {peak:.2f}) over {count}, {speech_s:.0f} s of speech"]
    said = []
    if strongest.text:
        said.append(f'said "{strongest.text}"')
        if words is not None:
            said.append(f"(words: {emotion} {words_score:.2f}" + (f', "{phrase}")' if phrase else ")"))
    heard = []
    if not math.isnan(voice):
        source = "" if strongest.voice.source == "utterance" else " (3 s windows only)"
        heard.append(f"voice: {emotion} {voice:.2f}{source}")
    if math.isnan(pitch) or math.isnan(loudness):
        heard.append("no baseline yet" if heard else "voice: no baseline yet")
    else:
        heard.append(f"pitch {pitch:+.1f} st, loudness {loudness:+.1f} dB vs. baseline")
    line = parts[0] + (": " + " ".join(said) if said else "") + ("; " if said else ": ") + ", ".join(heard)
    return {
        "evidence": line,
        "excerpt": strongest.text,
        "words_class": emotion if words is not None else "",
        "words_score": 0.0 if math.isnan(words_score) else round(words_score, 4),
        "words_phrase": phrase,
        "voice_score": 0.0 if math.isnan(voice) else round(voice, 4),
    }
