"""One shared faster-whisper model that transcribes single utterances of one channel.

Per utterance: choose the language among the allowed ones only (auto-detection on short phone audio picks
Welsh or Norwegian for English; restricting the choice fixes that), decode without Whisper's own VAD (ours
already cut the utterance), drop hallucinations, and shift timings into call time. Chinese output is
converted to Simplified characters (Whisper sometimes writes Traditional). We do not prompt Whisper with
Simplified text: on telephone Mandarin that prompt sent the decoder into repetition loops (3-10 s per
utterance instead of 0.7 s) for a 4-point CER gain.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

import ctranslate2
import numpy as np
import opencc
from faster_whisper import WhisperModel

from service.errors import ModelError
from service.transcription.hallucinations import collapse_loops, is_hallucination
from service.transcription.model_files import resolve_model
from service.transcription.results import Segment, Word

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000


@dataclass(frozen=True)
class DecodeOptions:
    """How utterances are decoded (see Settings for defaults)."""

    beam_size: int = 1
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    word_timestamps: bool = True
    # One fallback decode at a higher temperature when the greedy one looks wrong. More fallbacks (Whisper's
    # default is six) cost up to 6x on noise and bought nothing on our telephone test speech.
    temperatures: tuple[float, ...] = (0.0, 0.4)
    # Tokens allowed per second of audio: bounds the cost of a decoding loop (no speaker says 12 tokens/s).
    max_tokens_per_s: float = 12.0


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    probability: float


class Transcriber:
    """Thread-safe wrapper around one WhisperModel; `workers` calls may run at once."""

    def __init__(self, model_spec: str, *, compute_type: str = "int8", cpu_threads: int = 0, workers: int = 1) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub, whatever the model spec
        ctranslate2.set_random_seed(0)  # the temperature fallback samples: keep runs reproducible
        source = resolve_model(model_spec)
        try:
            self._model = WhisperModel(
                source.path_or_name,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                num_workers=workers,
                files=source.files,
                local_files_only=True,
            )
        except Exception as exc:  # faster-whisper/CTranslate2 raise many types; name the model in one error
            raise ModelError(f"could not load Whisper model {model_spec!r}: {exc}") from exc
        self.description = source.description
        self._t2s = opencc.OpenCC("t2s")
        self._t2s_lock = threading.Lock()

    def warm_up(self) -> None:
        """Run one decode so the first real call does not pay for lazy initialisation."""
        tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ).astype(np.float32)
        self.transcribe(tone, languages=("en",), offset_s=0.0, options=DecodeOptions())

    def choose_language(self, audio: np.ndarray, languages: tuple[str, ...]) -> LanguageGuess:
        """The most likely language among `languages`, with its probability renormalised over them."""
        if len(languages) == 1:
            return LanguageGuess(languages[0], 1.0)
        _, _, all_probs = self._model.detect_language(audio)
        probs = {lang: p for lang, p in all_probs if lang in languages}
        total = sum(probs.values())
        if total <= 0:
            return LanguageGuess(languages[0], 0.0)
        best = max(probs, key=probs.__getitem__)
        return LanguageGuess(best, probs[best] / total)

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        languages: tuple[str, ...],
        offset_s: float,
        options: DecodeOptions,
        language: LanguageGuess | None = None,
    ) -> tuple[LanguageGuess, list[Segment]]:
        """Transcribe one utterance (16 kHz float32) that starts at call time `offset_s`."""
        guess = language or self.choose_language(audio, languages)
        segments, _info = self._model.transcribe(
            audio,
            language=guess.language,
            beam_size=options.beam_size,
            word_timestamps=options.word_timestamps,
            condition_on_previous_text=False,
            vad_filter=False,
            no_speech_threshold=options.no_speech_threshold,
            log_prob_threshold=options.log_prob_threshold,
            temperature=list(options.temperatures),
            max_new_tokens=min(440, 24 + int(options.max_tokens_per_s * len(audio) / SAMPLE_RATE_HZ)),
        )
        out: list[Segment] = []
        for seg in segments:
            words = tuple(
                Word(offset_s + w.start, offset_s + w.end, self._script(w.word, guess.language), w.probability)
                for w in (seg.words or [])
            )
            words = tuple(collapse_loops(words, key=lambda w: w.text))
            mean_p = float(np.mean([w.probability for w in words])) if words else 1.0
            text = "".join(collapse_loops(list(self._script(seg.text.strip(), guess.language))))
            if is_hallucination(
                text,
                no_speech_prob=seg.no_speech_prob,
                mean_word_probability=mean_p,
                compression_ratio=seg.compression_ratio,
            ):
                log.info("dropped likely hallucination %r (no_speech=%.2f)", text, seg.no_speech_prob)
                continue
            out.append(
                Segment(
                    start_s=offset_s + seg.start,
                    end_s=offset_s + seg.end,
                    text=text,
                    language=guess.language,
                    language_probability=guess.probability,
                    avg_logprob=seg.avg_logprob,
                    words=words,
                )
            )
        return guess, out

    def _script(self, text: str, language: str) -> str:
        if language != "zh":
            return text
        with self._t2s_lock:
            return self._t2s.convert(text)
