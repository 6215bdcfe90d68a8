"""Judge one utterance by what was said and how it sounded.

Runs in the transcription worker right after the decode (the utterance's audio, its transcript and the
encoder states the decode used are all at hand), or, for an utterance transcription shed, in the call's
analysis thread from the 3 s window estimates alone. One `UtteranceJudge` is shared by every call: the
models are read-only, so it is thread-safe.

Cost per utterance (bench/judgement.py): the utterance's prosody (YIN at 8 kHz), one logistic regression on
566 inputs, and the words model (TF-IDF + five linear heads): milliseconds beside the decode's seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from features.prosody import FEATURE_NAMES
from features.text_emotion.model import MODEL_DIR, TextEmotionModel
from features.utterance_model import UtteranceVoiceModel
from features.utterance_voice import VoicePiece, utterance_prosody
from service.emotion import EmotionEstimate
from service.judgement.fusion import FusionOptions, fuse
from service.judgement.results import SCORES, UtteranceJudgement, VoiceEvidence, WordsEvidence

_F0 = FEATURE_NAMES.index("f0_median_st")
_LOUD = FEATURE_NAMES.index("loud_median_db")
EXPLAIN_ABOVE = 0.5  # the words behind a class are looked up when its probability reaches this


@dataclass(frozen=True)
class UtteranceContext:
    """What the call's analysis thread knew when the utterance ended: the speaker's baseline (the window
    features' calm mean, None before there is one) and the window estimates over the utterance's time."""

    baseline: np.ndarray | None = None
    windows: tuple[EmotionEstimate, ...] = field(default_factory=tuple)


class UtteranceJudge:
    """The utterance view of the voice, the words models (zh, en), and how they are fused."""

    def __init__(self, voice: UtteranceVoiceModel, words: dict[str, TextEmotionModel]) -> None:
        self.voice_model = voice
        self.words_models = words

    @classmethod
    def load(cls, *, words_model: str = "research") -> UtteranceJudge:
        """The shipped models from trained_models/; `words_model` "permissive" takes the Mandarin words model
        trained on permissively licensed text only (trained_models/variants/zh_permissive). Raises
        UtteranceModelError / TextModelError (saying what to do)."""
        zh_dir = MODEL_DIR / "variants" / "zh_permissive" if words_model == "permissive" else MODEL_DIR
        words = {"zh": TextEmotionModel.load("zh", zh_dir), "en": TextEmotionModel.load("en")}
        return cls(UtteranceVoiceModel.load(), words)

    # ---- the two sources ------------------------------------------------------------------------------
    def words(self, text: str, language: str) -> WordsEvidence | None:
        """The words model of `language` on `text` (None for another language or no words)."""
        model = self.words_models.get(language.split("-")[0])
        if model is None or not text.strip():
            return None
        first = model.score(text)
        explain = tuple(c for c in SCORES if first.probabilities[c] >= EXPLAIN_ABOVE)
        scores = model.score(text, explain=explain) if explain else first
        p = scores.probabilities
        drivers = {c: tuple(d.text for d in ds) for c, ds in scores.drivers.items() if ds}
        return WordsEvidence(model.language, p["anger"], p["disappointment"], p["anxiety"], p["confusion"],
                             p["neutral"], drivers)  # fmt: skip

    def voice(
        self, audio: np.ndarray, pieces: Sequence[VoicePiece], encoder_window_s: float, context: UtteranceContext
    ) -> VoiceEvidence:
        """The utterance view on (n,) 16 kHz `audio` and its encoder states pooled per piece (one piece up to
        VOICE_PIECE_S: features.utterance_voice); the window estimates over its time beside it; pitch and
        loudness against the speaker's baseline. Pieces are scored with their own prosody, the probabilities
        averaged weighted by length."""
        prosody, readable = utterance_prosody(audio)
        w_anger, w_sad = _window_means(context.windows)
        pitch, loud = _vs_baseline(prosody, context.baseline)
        if not pieces:
            return _from_windows(context.windows, pitch, loud, readable.pitch_hz)
        scored, weights = [], []
        for piece in pieces:
            own = prosody if len(pieces) == 1 else utterance_prosody(audio[piece.start : piece.end])[0]
            scored.append(self.voice_model.probabilities(own, piece.pooled)[0])
            weights.append(max(1, piece.end - piece.start))
        anger, sad, neutral, other = (float(v) for v in np.average(scored, axis=0, weights=weights))
        return VoiceEvidence(
            "utterance", anger, sad, neutral, other, w_anger, w_sad, pitch, loud, readable.pitch_hz, encoder_window_s
        )

    # ---- the judgement --------------------------------------------------------------------------------
    def judge(
        self,
        *,
        start_s: float,
        end_s: float,
        audio: np.ndarray | None,
        pieces: Sequence[VoicePiece],
        encoder_window_s: float,
        text: str,
        language: str,
        context: UtteranceContext,
        options: FusionOptions,
    ) -> UtteranceJudgement:
        """Words and voice of one utterance, fused with `options` (the policy's [fusion] table). Without
        audio or encoder states (transcription shed it) the voice comes from the window estimates alone."""
        if audio is None:
            voice = _from_windows(context.windows, math.nan, math.nan, math.nan)
        else:
            voice = self.voice(audio, pieces, encoder_window_s, context)
        words = self.words(text, language) if text else None
        fused = fuse(voice, words, options)
        return UtteranceJudgement(
            start_s=start_s,
            end_s=end_s,
            speech_s=max(0.0, end_s - start_s),
            text=text,
            language=language,
            anger=fused.anger,
            disappointment=fused.disappointment,
            anxiety=fused.anxiety,
            confusion=fused.confusion,
            neutral=fused.neutral,
            voice=voice,
            words=words,
            voice_anger=fused.voice_anger,
            voice_disappointment=fused.voice_disappointment,
        )


def _window_means(windows: Sequence[EmotionEstimate]) -> tuple[float, float]:
    """Mean anger and disappointment of the window estimates over the utterance (NaN when none). Before the
    speaker's baseline is full these are the window model's guarded values (anger held under 0.45, no
    disappointment: service/emotion.py), so the utterance view cannot carry a blend alone at the start."""
    if not windows:
        return math.nan, math.nan
    return float(np.mean([w.anger for w in windows])), float(np.mean([w.disappointment for w in windows]))


def _from_windows(windows: Sequence[EmotionEstimate], pitch: float, loud: float, pitch_hz: float) -> VoiceEvidence:
    """The voice from the 3 s windows alone (an utterance transcription did not reach)."""
    anger, sad = _window_means(windows)
    if windows:
        pitch = float(np.median([w.pitch_st_vs_baseline for w in windows])) if math.isnan(pitch) else pitch
        loud = float(np.median([w.loudness_db_vs_baseline for w in windows])) if math.isnan(loud) else loud
    anger, sad = (0.0 if math.isnan(v) else v for v in (anger, sad))
    neutral = float(np.mean([w.neutral for w in windows])) if windows else 1.0
    other = float(np.mean([w.other for w in windows])) if windows else 0.0
    return VoiceEvidence("windows", anger, sad, neutral, other, anger, sad, pitch, loud, pitch_hz, 0.0)


def _vs_baseline(prosody: np.ndarray, baseline: np.ndarray | None) -> tuple[float, float]:
    if baseline is None:
        return math.nan, math.nan
    pitch = float(prosody[_F0] - baseline[_F0])
    loud = float(prosody[_LOUD] - baseline[_LOUD])
    return (pitch if math.isfinite(pitch) else math.nan), (loud if math.isfinite(loud) else math.nan)
