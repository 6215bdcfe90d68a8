"""Streaming voice activity detection with the Silero VAD model that faster-whisper bundles.

faster-whisper runs Silero over a whole file at once. Its ONNX graph takes a sequence of 512-sample windows
(each prefixed with the previous window's last 64 samples) plus the LSTM state, so we can feed it window by
window as audio arrives and carry the state ourselves: the probabilities equal the whole-file ones.
"""

from __future__ import annotations

import os

import numpy as np
import onnxruntime
from faster_whisper.utils import get_assets_path

WINDOW_SAMPLES = 512  # 32 ms at 16 kHz
CONTEXT_SAMPLES = 64
SAMPLE_RATE_HZ = 16000


class SileroModel:
    """The ONNX session, shared by every call (run() is thread-safe; state lives in the callers)."""

    def __init__(self, path: str | None = None) -> None:
        path = path or os.path.join(get_assets_path(), "silero_vad_v6.onnx")
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self._session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)

    def run(self, windows: np.ndarray, h: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """windows: (n, 576) float32 -> (speech probabilities (n,), new h, new c)."""
        probs, h, c = self._session.run(None, {"input": windows, "h": h, "c": c})
        return np.asarray(probs, dtype=np.float32).reshape(-1), h, c


# Silero's LSTM state drifts over a long stretch without speech: after 20-27 s of digital silence a quiet
# (-29 dBFS peak) Mandarin sentence peaked at P(speech) 0.26-0.27 and went unheard, while after 3 s of silence
# it peaked at 0.80 (measured on telephone CASIA audio). A channel quiet this long is therefore given the
# state of a fresh call again, which is what the model was trained to start from.
RESET_AFTER_QUIET_S = 2.0
QUIET_PROBABILITY = 0.1


class StreamingVad:
    """Per-channel VAD state: push 16 kHz audio in any chunk sizes, get one probability per 32 ms window.

    After `RESET_AFTER_QUIET_S` of windows below `QUIET_PROBABILITY` the LSTM state is reset (see above)."""

    def __init__(self, model: SileroModel) -> None:
        self._model = model
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self._quiet_windows = 0
        self._reset_windows = round(RESET_AFTER_QUIET_S * SAMPLE_RATE_HZ / WINDOW_SAMPLES)
        self.resets = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Feed samples (n,) at 16 kHz; returns probabilities for every window completed, in order."""
        audio = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        n_windows = len(audio) // WINDOW_SAMPLES
        self._pending = audio[n_windows * WINDOW_SAMPLES :]
        if n_windows == 0:
            return np.zeros(0, dtype=np.float32)
        windows = audio[: n_windows * WINDOW_SAMPLES].reshape(n_windows, WINDOW_SAMPLES)
        contexts = np.vstack([self._context[None, :], windows[:-1, -CONTEXT_SAMPLES:]])
        self._context = windows[-1, -CONTEXT_SAMPLES:].copy()
        probs, self._h, self._c = self._model.run(np.hstack([contexts, windows]), self._h, self._c)
        for p in probs:
            self._quiet_windows = self._quiet_windows + 1 if p < QUIET_PROBABILITY else 0
        if self._quiet_windows >= self._reset_windows:
            self._h = np.zeros_like(self._h)
            self._c = np.zeros_like(self._c)
            self._quiet_windows = 0
            self.resets += 1
        return probs
