"""Prosody path cost: CPU seconds per audio second per channel, and latency per emotion window.

Runs one channel's live emotion path (resampling to 8 kHz, features every hop over the last window,
classifier) over real speech in 20 ms frames, with the VAD speech gate, and compares YIN with pYIN for the
pitch tracker on the same audio. Writes bench/results/prosody.json.

    python -m bench.prosody [--seconds 120]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import librosa
import numpy as np

from features.corpus import read_labels, shared_data_dir
from features.model import EmotionModel
from features.prosody import F0_MAX_HZ, F0_MIN_HZ, FEATURE_RATE_HZ, HOP, YIN_FRAME, describe
from service.audio.resample import StreamResampler
from service.emotion import ChannelEmotion, EmotionOptions
from service.transcription.utterances import UtteranceSegmenter
from service.transcription.vad import SileroModel

RESULTS = Path(__file__).resolve().parent / "results"


def speech(seconds: float) -> np.ndarray:
    data = shared_data_dir()
    clips = read_labels(data / "ravdess" / "LABELS.csv") + read_labels(data / "casia" / "LABELS.csv")
    random.Random(0).shuffle(clips)
    parts, total = [], 0.0
    for clip in clips:
        audio = clip.load(FEATURE_RATE_HZ)
        parts.append(audio / max(1e-6, float(np.abs(audio).max())) * 0.5)
        total += len(audio) / FEATURE_RATE_HZ
        if total >= seconds:
            break
    return np.concatenate(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="seconds of speech to run (default 120)")
    args = parser.parse_args(argv)
    audio = speech(args.seconds)
    audio_s = len(audio) / FEATURE_RATE_HZ
    model = EmotionModel.load()
    describe(audio[:FEATURE_RATE_HZ])  # compile librosa's kernels outside the measurement
    print(f"running the emotion path over {audio_s:.0f} s of speech ...", file=sys.stderr, flush=True)

    vad, resampler = UtteranceSegmenter(SileroModel()), StreamResampler(FEATURE_RATE_HZ)
    channel = ChannelEmotion(model, FEATURE_RATE_HZ, EmotionOptions())
    frame = FEATURE_RATE_HZ // 50
    window_latency, estimates = [], 0
    cpu0 = time.process_time()
    for i in range(0, len(audio), frame):
        chunk = audio[i : i + frame]
        vad.push(resampler.push(chunk))
        t0 = time.perf_counter()
        out = channel.push(chunk, vad.speech_s)
        if out:
            window_latency.append(time.perf_counter() - t0)
            estimates += len(out)
    cpu_emotion_and_vad = time.process_time() - cpu0

    def pitch_cost(fn) -> float:  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        fn()
        return (time.process_time() - t0) / audio_s

    yin = pitch_cost(
        lambda: librosa.yin(
            audio, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=FEATURE_RATE_HZ, frame_length=YIN_FRAME, hop_length=HOP
        )
    )
    short = audio[: int(30 * FEATURE_RATE_HZ)]
    t0 = time.process_time()
    librosa.pyin(short, fmin=F0_MIN_HZ, fmax=F0_MAX_HZ, sr=FEATURE_RATE_HZ, frame_length=YIN_FRAME, hop_length=HOP)
    pyin = (time.process_time() - t0) / (len(short) / FEATURE_RATE_HZ)

    lat = np.array(window_latency)
    result = {
        "benchmark": "prosody",
        "audio_s": round(audio_s, 1),
        "estimates": estimates,
        "cpu_s_per_audio_s_per_channel": round(cpu_emotion_and_vad / audio_s, 4),
        "window_latency_ms": {
            "p50": round(1000 * float(np.percentile(lat, 50)), 2),
            "p95": round(1000 * float(np.percentile(lat, 95)), 2),
            "max": round(1000 * float(lat.max()), 2),
        },
        "pitch_cpu_s_per_audio_s": {
            "yin": round(yin, 4),
            "pyin": round(pyin, 4),
            "pyin_over_yin": round(pyin / yin, 1),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prosody.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nemotion path (VAD gate + resample + features + model), one channel: "
        f"{result['cpu_s_per_audio_s_per_channel']:.4f} CPU-s per audio-s ({estimates} estimates)\n"
        f"latency per window: p50 {result['window_latency_ms']['p50']:.1f} ms, p95 {result['window_latency_ms']['p95']:.1f} ms\n"
        f"pitch tracker: yin {yin:.4f}, pyin {pyin:.4f} CPU-s per audio-s (pyin {pyin / yin:.0f}x yin)\n"
        f"written to {RESULTS / 'prosody.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
