"""One shared faster-whisper model that transcribes single utterances of one channel.

Per utterance: encode the audio once; choose the language among the call's allowed ones from that encoding
(auto-detection over all languages picks Welsh or Norwegian for English phone audio; restricting the choice
fixes that), with the channel's recent language as a prior but never a lock, so a caller who switches
between Mandarin and English is transcribed in each; when the choice is unsure, decode in both and keep the
more probable text, so Mandarin is never "transcribed" as an English translation or pinyin. Decode without
Whisper's own VAD (ours already cut the utterance), drop hallucinations (each with its reason, counted by the
caller), and shift timings into call time. Chinese output is converted to Simplified characters (Whisper
sometimes writes Traditional). We do not prompt Whisper with Simplified text: on telephone Mandarin that
prompt sent the decoder into repetition loops (3-10 s per utterance instead of 0.7 s) for a 4-point CER gain.

faster-whisper's own `transcribe()` encodes the audio a second time when it detects the language; here the
language is detected on the encoder output the decode then uses (`WhisperModel.generate_segments` accepts
it), which is what `transcribe(language=...)` itself runs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from dataclasses import dataclass, field

import ctranslate2
import numpy as np
import opencc
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import TranscriptionOptions, get_suppressed_tokens

from features.embedding import level_normalised
from features.utterance_voice import PIECE_WINDOW_S, VoicePiece, piece_bounds, pool_encoder_output
from service.errors import ModelError
from service.transcription.hallucinations import collapse_loops, hallucination_reason
from service.transcription.model_files import resolve_model
from service.transcription.results import Segment, Word

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
N_FRAMES = 3000  # Whisper's 30 s input, in 10 ms mel frames


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
    # Seconds of audio the encoder sees: the utterance, padded with silence up to this (an utterance longer than
    # it is encoded whole). Whisper was trained on 30 s windows; a 2-3 s utterance padded to 30 s spends most
    # of the encoder's work on padding. See bench/transcription.py for accuracy and cost per value.
    window_s: float = 30.0
    # The channel's recent language counts this many times more (odds) than the detector alone says: a
    # stable prior for short, ambiguous replies, which a clear sentence in the other language still overturns.
    prior_odds: float = 3.0
    # Below this (renormalised, after the prior) the language is unsure: decode in the two most likely
    # languages and keep the text with the higher mean token log-probability.
    sure_language_probability: float = 0.8
    # Bring each utterance to one level before the encoder (its loud 20 ms frames at -20 dBFS,
    # features.embedding.level_normalised): the utterance view of the voice reuses these encoder states, and
    # without it they followed the line's gain (a customer shouting 14 dB hot read anger 0.02).
    level_normalise: bool = True


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    probability: float


@dataclass(frozen=True)
class DroppedSegment:
    """Decoded text not shown as speech, and why (hallucinations.hallucination_reason)."""

    start_s: float
    end_s: float
    text: str
    reason: str


@dataclass(frozen=True)
class Encoded:
    """An utterance as the encoder saw it: log-mel `features` (80, n_mel), the encoder output of its first
    window (CTranslate2 StorageView, (1, n_enc, 512)), and how many mel frames (10 ms) are the utterance's own
    (the rest of the window is padding)."""

    features: np.ndarray
    states: ctranslate2.StorageView
    content_frames: int


@dataclass(frozen=True)
class Transcription:
    """One utterance's result: the language it was decoded in, its segments, and what was dropped."""

    language: LanguageGuess
    segments: list[Segment]
    dropped: list[DroppedSegment] = field(default_factory=list)
    # The utterance view's input when asked for (`keep_states`): the encoder states, pooled over the speech of
    # each piece (features.utterance_voice). An utterance of up to VOICE_PIECE_S reuses the decode's states (no
    # second encoder pass); a longer one is encoded again in pieces with the 6 s window.
    voice_pieces: tuple[VoicePiece, ...] = ()
    encoder_window_s: float = 0.0


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

    def choose_language(
        self, audio: np.ndarray, languages: tuple[str, ...], *, prior: str | None = None, prior_odds: float = 1.0
    ) -> LanguageGuess:
        """The most likely language of 16 kHz `audio` among `languages` (probability renormalised over them)."""
        features = self._model.feature_extractor(audio)
        return self._ranked(self._encode(features, DecodeOptions().window_s), languages, prior, prior_odds)[0]

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        languages: tuple[str, ...],
        offset_s: float,
        options: DecodeOptions,
        prior: str | None = None,
        keep_states: bool = False,
    ) -> Transcription:
        """Transcribe one utterance (16 kHz float32, shape (n,)) that starts at call time `offset_s`.

        `prior`: the channel's recent language, if any (favoured by `options.prior_odds`, never forced).
        `keep_states`: also return the utterance view's input (`voice_pieces`, `encoder_window_s`)."""
        raw = audio
        if options.level_normalise:
            audio = level_normalised(np.asarray(audio, np.float32))
        features = self._model.feature_extractor(audio)
        encoded = self._encode(features, options.window_s)
        pieces: tuple[VoicePiece, ...] = ()
        window_s = options.window_s
        if keep_states:
            bounds = piece_bounds(raw)
            if len(bounds) == 1:
                content = min(N_FRAMES, features.shape[-1] - 1)
                pieces = (VoicePiece(0, len(raw), pool_encoder_output(np.asarray(encoded), content, audio)),)
            else:
                pieces, window_s = self._pieces(raw, bounds), PIECE_WINDOW_S
        ranked = self._ranked(encoded, languages, prior, options.prior_odds)
        unsure = len(ranked) > 1 and ranked[0].probability < options.sure_language_probability
        best: Transcription | None = None
        best_score = -np.inf
        for guess in ranked[: 2 if unsure else 1]:
            result = self._decode(features, encoded, guess, offset_s, options)
            tokens = [s.avg_logprob for s in result.segments]
            score = float(np.mean(tokens)) if tokens else -np.inf
            if best is None or score > best_score:
                best, best_score = result, score
        assert best is not None
        if not pieces:
            return best
        return dataclasses.replace(best, voice_pieces=pieces, encoder_window_s=window_s)

    def voice_states(self, audio: np.ndarray, window_s: float = 30.0) -> tuple[tuple[VoicePiece, ...], float]:
        """The utterance view's input for 16 kHz `audio` (n,) without decoding it, as `transcribe(keep_states=True)`
        makes it with the `window_s` decode: (pieces, encoder window in seconds)."""
        bounds = piece_bounds(audio)
        if len(bounds) > 1:
            return self._pieces(audio, bounds), PIECE_WINDOW_S
        enc = self.encode(audio, window_s)
        return (
            VoicePiece(0, len(audio), pool_encoder_output(np.asarray(enc.states), enc.content_frames, audio)),
        ), window_s

    def _pieces(self, audio: np.ndarray, bounds: list[tuple[int, int]]) -> tuple[VoicePiece, ...]:
        """Each piece of a long utterance encoded on its own (brought to one level, the 6 s window) and pooled."""
        out = []
        for start, end in bounds:
            piece = np.asarray(audio[start:end], np.float32)
            enc = self.encode(piece, PIECE_WINDOW_S)
            out.append(VoicePiece(start, end, pool_encoder_output(np.asarray(enc.states), enc.content_frames, piece)))
        return tuple(out)

    def encode(self, audio: np.ndarray, window_s: float, *, level_normalise: bool = True) -> Encoded:
        """16 kHz float32 `audio` (n,) -> its log-mel features and the encoder output of its first window, as
        `transcribe` computes them (the utterance view of the voice pools the same states: no second pass)."""
        if level_normalise:
            audio = level_normalised(np.asarray(audio, np.float32))
        features = self._model.feature_extractor(audio)
        return Encoded(features, self._encode(features, window_s), min(N_FRAMES, features.shape[-1] - 1))

    def _encode(self, features: np.ndarray, window_s: float) -> ctranslate2.StorageView:
        """The encoder output of the utterance's first window: the frames `generate_segments` would encode
        itself (it drops the last frame), padded to `window_s` (whole 30 s windows as Whisper was trained:
        window_s=30) rather than always to 30 s; an even number of frames (the encoder's stride is 2)."""
        content = min(N_FRAMES, features.shape[-1] - 1)
        frames = min(N_FRAMES, max(content, round(window_s * 100)))
        frames += frames % 2
        return self._model.encode(pad_or_trim(features[:, :content], frames))

    def _ranked(
        self, encoded: ctranslate2.StorageView, languages: tuple[str, ...], prior: str | None, prior_odds: float
    ) -> list[LanguageGuess]:
        """Allowed languages, most likely first, with the prior's odds multiplied by `prior_odds`."""
        if len(languages) == 1:
            return [LanguageGuess(languages[0], 1.0)]
        scores = {token[2:-2]: p for token, p in self._model.model.detect_language(encoded)[0]}
        probs = {lang: scores.get(lang, 0.0) for lang in languages}
        if prior in probs:
            probs[prior] *= prior_odds
        total = sum(probs.values())
        if total <= 0:
            return [LanguageGuess(lang, 1.0 / len(languages)) for lang in languages]
        return sorted((LanguageGuess(lang, p / total) for lang, p in probs.items()), key=lambda g: -g.probability)

    def _decode(
        self,
        features: np.ndarray,
        encoded: ctranslate2.StorageView,
        guess: LanguageGuess,
        offset_s: float,
        options: DecodeOptions,
    ) -> Transcription:
        model = self._model
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=guess.language
        )
        seconds = (features.shape[-1] - 1) * model.feature_extractor.time_per_frame
        settings = TranscriptionOptions(  # faster-whisper's transcribe() defaults, except where we differ
            beam_size=options.beam_size,
            best_of=5,
            patience=1,
            length_penalty=1,
            repetition_penalty=1,
            no_repeat_ngram_size=0,
            log_prob_threshold=options.log_prob_threshold,
            no_speech_threshold=options.no_speech_threshold,
            compression_ratio_threshold=2.4,
            condition_on_previous_text=False,
            prompt_reset_on_temperature=0.5,
            temperatures=list(options.temperatures),
            initial_prompt=None,
            prefix=None,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            without_timestamps=False,
            max_initial_timestamp=1.0,
            word_timestamps=options.word_timestamps,
            prepend_punctuations="\"'“¿([{-",
            append_punctuations="\"'.。,，!！?？:：”)]}、",
            multilingual=False,
            max_new_tokens=min(440, 24 + int(options.max_tokens_per_s * seconds)),
            clip_timestamps=[0.0],
            hallucination_silence_threshold=None,
            hotwords=None,
        )
        out: list[Segment] = []
        dropped: list[DroppedSegment] = []
        for seg in model.generate_segments(features, tokenizer, settings, False, encoded):
            words = tuple(
                Word(offset_s + w.start, offset_s + w.end, self._script(w.word, guess.language), w.probability)
                for w in (seg.words or [])
            )
            words = tuple(collapse_loops(words, key=lambda w: w.text))
            mean_p = float(np.mean([w.probability for w in words])) if words else 1.0
            text = "".join(collapse_loops(list(self._script(seg.text.strip(), guess.language))))
            reason = hallucination_reason(
                text,
                no_speech_prob=seg.no_speech_prob,
                mean_word_probability=mean_p,
                compression_ratio=seg.compression_ratio,
            )
            if reason is not None:
                dropped.append(DroppedSegment(offset_s + seg.start, offset_s + seg.end, text, reason))
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
        return Transcription(guess, out, dropped)

    def _script(self, text: str, language: str) -> str:
        if language != "zh":
            return text
        with self._t2s_lock:
            return self._t2s.convert(text)
