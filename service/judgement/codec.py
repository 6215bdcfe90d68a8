"""Utterance judgements to and from JSON (storage), tolerant of fields added later."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from service.judgement.results import UtteranceJudgement, VoiceEvidence, WordsEvidence


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and math.isnan(v) else v


def judgement_to_json(j: UtteranceJudgement) -> dict[str, Any]:
    d = {k: _finite(v) for k, v in dataclasses.asdict(j).items() if k not in ("voice", "words")}
    d["voice"] = {k: _finite(v) for k, v in dataclasses.asdict(j.voice).items()}
    d["words"] = None if j.words is None else dataclasses.asdict(j.words)
    return d


def _known(cls: type, d: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: (math.nan if v is None else v) for k, v in d.items() if k in names}


def judgement_from_json(d: dict[str, Any]) -> UtteranceJudgement:
    voice = VoiceEvidence(**_known(VoiceEvidence, d["voice"]))
    words = None
    if d.get("words"):
        w = dict(d["words"])
        w["drivers"] = {k: tuple(v) for k, v in w.get("drivers", {}).items()}
        words = WordsEvidence(
            **{k: v for k, v in w.items() if k in {f.name for f in dataclasses.fields(WordsEvidence)}}
        )
    rest = {k: v for k, v in _known(UtteranceJudgement, d).items() if k not in ("voice", "words")}
    return UtteranceJudgement(**rest, voice=voice, words=words)
