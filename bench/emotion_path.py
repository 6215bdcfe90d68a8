"""Emotion path cost: CPU seconds per audio second per channel, whole and by stage, on real speech.

Runs one channel's live analysis (service/channel_analysis.py: line conditioning, resampling, speech
activity = Silero VAD + loud voiced speech, prosody every hop over the last window, the Whisper-encoder
embedding every `embed_hop_s`, the two-view model) over real speech in 20 ms frames, with one BLAS thread
as the service runs it; then each stage alone over the same audio, and the previous path's stages (Silero
alone, prosody, no encoder) beside it. Writes bench/results/emotion_path.json.

    python -m bench.emotion_path [--seconds 120]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soxr

from features.corpus import read_labels, shared_data_dir
from features.embedding import EMBED_RATE_HZ
from features.model import EmotionModel
from features.prosody import FEATURE_RATE_HZ, describe
from features.threads import one_blas_thread
from service.audio.conditioning import LineConditioner
from service.audio.resample import StreamResampler
from service.channel_analysis import ChannelAnalysis
from service.emotion import EmotionOptions
from service.speech_activity import LoudVoiceOptions, SpeechActivity
from service.transcription.vad import SileroModel

RESULTS = Path(__file__).resolve().parent / "results"


def speech(seconds: float) -> np.ndarray:
    """Back-to-back corpus sentences (both languages) at 8 kHz, with their own short silences."""
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
    return np.concatenate(parts).astype(np.float32)


def cpu_per_audio_s(fn: Callable[[], object], audio_s: float) -> float:
    t0 = time.process_time()
    fn()
    return round((time.process_time() - t0) / audio_s, 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="seconds of speech to run (default 120)")
    args = parser.parse_args(argv)
    one_blas_thread()
    audio = speech(args.seconds)
    audio_s = len(audio) / FEATURE_RATE_HZ
    model, vad = EmotionModel.load(), SileroModel()
    describe(audio[:FEATURE_RATE_HZ])  # compile librosa's kernels and load the encoder outside the measurement
    model.encoder.embed(np.zeros(EMBED_RATE_HZ, np.float32))
    options = EmotionOptions()
    frame = FEATURE_RATE_HZ // 50
    print(f"running the emotion path over {audio_s:.0f} s of speech ...", file=sys.stderr, flush=True)

    channel = ChannelAnalysis(FEATURE_RATE_HZ, vad_model=vad, emotion_model=model)
    latency, estimates = [], 0
    t0 = time.process_time()
    for i in range(0, len(audio), frame):
        w0 = time.perf_counter()
        out = channel.push(audio[i : i + frame])[1]
        if out:
            latency.append(time.perf_counter() - w0)
            estimates += len(out)
    whole = round((time.process_time() - t0) / audio_s, 4)

    wide = StreamResampler(FEATURE_RATE_HZ).push(audio, last=True)
    hops = range(int(options.window_s * FEATURE_RATE_HZ), len(audio), int(options.hop_s * FEATURE_RATE_HZ))
    every = int(options.embed_hop_s / options.hop_s)
    window = int(options.window_s * FEATURE_RATE_HZ)

    def activity(loud: bool) -> None:
        sa = SpeechActivity(vad, LoudVoiceOptions(enabled=loud))
        for i in range(0, len(wide), 2 * frame):
            sa.push(wide[i : i + 2 * frame])

    def conditioning() -> None:
        lc = LineConditioner(FEATURE_RATE_HZ)
        for i in range(0, len(audio), frame):
            lc.push(audio[i : i + frame])

    stages = {
        "conditioning": cpu_per_audio_s(conditioning, audio_s),
        "silero_vad": cpu_per_audio_s(lambda: activity(False), audio_s),
        "silero_vad_plus_loud_voice": cpu_per_audio_s(lambda: activity(True), audio_s),
        "prosody_every_hop": cpu_per_audio_s(lambda: [describe(audio[e - window : e]) for e in hops], audio_s),
        "whisper_encoder_every_embed_hop": cpu_per_audio_s(
            lambda: [
                model.encoder.embed(soxr.resample(audio[e - window : e], FEATURE_RATE_HZ, EMBED_RATE_HZ))
                for e in list(hops)[::every]
            ],
            audio_s,
        ),
    }
    previous = round(stages["silero_vad"] + stages["prosody_every_hop"], 4)
    lat = np.array(latency)
    result = {
        "benchmark": "emotion_path",
        "audio_s": round(audio_s, 1),
        "estimates": estimates,
        "embed_hop_s": options.embed_hop_s,
        "cpu_s_per_audio_s_per_channel": whole,
        "previous_path_stages_cpu_s_per_audio_s": previous,
        "ratio_to_previous_path": round(whole / previous, 2),
        "stages_cpu_s_per_audio_s": stages,
        "hop_latency_ms": {
            "p50": round(1000 * float(np.percentile(lat, 50)), 1),
            "p95": round(1000 * float(np.percentile(lat, 95)), 1),
            "max": round(1000 * float(lat.max()), 1),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "emotion_path.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nemotion path, one channel: {whole:.4f} CPU-s per audio-s ({estimates} estimates); previous path's "
          f"stages (Silero + prosody): {previous:.4f} (x{result['ratio_to_previous_path']:.2f})")  # fmt: skip
    for name, cost in stages.items():
        print(f"  {name:34} {cost:.4f}")
    print(f"latency per hop with an estimate: p50 {result['hop_latency_ms']['p50']:.1f} ms, p95 "
          f"{result['hop_latency_ms']['p95']:.1f} ms\nwritten to {RESULTS / 'emotion_path.json'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
