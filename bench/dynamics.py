"""Conversation dynamics cost: CPU seconds per audio second per channel of a stereo call's live analysis with
the dynamics tracked (every VAD window into a TalkTracker, a snapshot every 10 s of call time, the summary at
the end) against the same analysis without them, measured side by side over the same real speech; and the
time of one snapshot of an hour-long call; and the voice cues the transcription worker adds per English
utterance (final pitch rise, transcript speech rate) against the Whisper decode of the same utterance. Writes
bench/results/dynamics.json.

    python -m bench.dynamics [--seconds 120]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from bench.emotion_path import speech
from features.corpus import read_labels, shared_data_dir
from features.model import EmotionModel
from features.threads import one_blas_thread
from service.channel_analysis import ChannelAnalysis
from service.domain import Role
from service.dynamics.conversation import summarise
from service.dynamics.live import CallDynamics
from service.dynamics.talk import Spurt
from service.settings import Settings
from service.transcription.intonation import utterance_final_rise_st
from service.transcription.vad import SileroModel
from service.transcription.whisper import DecodeOptions, Transcriber

RESULTS = Path(__file__).resolve().parent / "results"
RATE = 8000
ROLES = (Role.CUSTOMER, Role.AGENT)


def stereo(seconds: float) -> np.ndarray:
    """(n, 2): real sentences taking turns between the two channels, about 2 s apart."""
    mono = speech(seconds)
    out = np.zeros((len(mono), 2), np.float32)
    step = 4 * RATE
    for k, i in enumerate(range(0, len(mono), step)):
        out[i : i + step, k % 2] = mono[i : i + step]
    return out


def run(audio: np.ndarray, vad: SileroModel, model: EmotionModel, *, track: bool) -> tuple[float, tuple[Spurt, ...]]:
    channels = [ChannelAnalysis(RATE, vad_model=vad, emotion_model=model) for _ in ROLES]
    dynamics = CallDynamics(ROLES) if track else None
    if dynamics is not None:
        for i, ch in enumerate(channels):
            ch.segmenter.on_window = lambda t, n, s, i=i: dynamics.observe(i, t, n, s)
    frame = RATE // 50
    t0 = time.process_time()
    for start in range(0, len(audio), frame):
        for i, ch in enumerate(channels):
            ch.push(audio[start : start + frame, i])  # speech rates come from transcripts (no Whisper here)
        if dynamics is not None:
            dynamics.due((start + frame) / RATE)
    for ch in channels:
        ch.finish()
    if dynamics is None:
        return time.process_time() - t0, ()
    dynamics.finish(len(audio) / RATE)
    return time.process_time() - t0, dynamics.spurts


def voice_cue_cost(n: int = 24) -> dict:
    """CPU of the final-rise measure and the transcript rate per utterance, beside its Whisper decode (the
    same transcription worker): `n` RAVDESS sentences, English, where the default policy measures the rise."""
    settings = Settings()
    tr = Transcriber(settings.whisper_model, compute_type=settings.compute_type, cpu_threads=1)
    clips = read_labels(shared_data_dir() / "ravdess" / "LABELS.csv")
    random.Random(0).shuffle(clips)
    decode_s = cue_s = 0.0
    for clip in clips[:n]:
        audio = clip.load(16000)
        t0 = time.process_time()
        result = tr.transcribe(audio, languages=("en",), offset_s=0.0, options=DecodeOptions())
        t1 = time.process_time()
        utterance_final_rise_st(audio)
        _ = [seg.speech_rate_sps for seg in result.segments]
        cue_s += time.process_time() - t1
        decode_s += t1 - t0
    return {
        "utterances": n,
        "decode_cpu_ms": round(1000 * decode_s / n, 1),
        "voice_cues_cpu_ms": round(1000 * cue_s / n, 1),
        "ratio": round(cue_s / decode_s, 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="seconds of stereo call audio")
    args = parser.parse_args(argv)
    one_blas_thread()
    audio = stereo(args.seconds)
    audio_s = len(audio) / RATE
    vad, model = SileroModel(), EmotionModel.load()
    run(audio[: 5 * RATE], vad, model, track=True)  # warm up (model loads, caches)
    rows, final_spurts = [], []
    for rep in range(3):  # alternate, so drift on a shared machine hits both alike
        for track in (False, True):
            cpu, spurts = run(audio, vad, model, track=track)
            if track:
                final_spurts.append(spurts)
            rows.append({"rep": rep, "dynamics": track, "cpu_s_per_audio_s_per_channel": cpu / audio_s / len(ROLES)})
            print(f"  rep {rep} dynamics={track}: {rows[-1]['cpu_s_per_audio_s_per_channel']:.4f}", file=sys.stderr)
    without = float(np.median([r["cpu_s_per_audio_s_per_channel"] for r in rows if not r["dynamics"]]))
    with_ = float(np.median([r["cpu_s_per_audio_s_per_channel"] for r in rows if r["dynamics"]]))
    # one snapshot of an hour-long call: this call's spurts repeated to an hour
    base = final_spurts[-1]
    n_rep = int(np.ceil(3600 / audio_s))
    spurts = [Spurt(s.channel, s.start_s + k * audio_s, s.end_s + k * audio_s) for k in range(n_rep) for s in base]
    t0 = time.process_time()
    summarise(spurts, ROLES, n_rep * audio_s)
    snapshot_s = time.process_time() - t0
    result = {
        "audio_s": round(audio_s, 1),
        "cpu_s_per_audio_s_per_channel": {"without_dynamics": round(without, 4), "with_dynamics": round(with_, 4)},
        "ratio": round(with_ / without, 3),
        "hour_long_call": {"spurts": len(spurts), "snapshot_cpu_s": round(snapshot_s, 4)},
        "voice_cues_per_english_utterance": voice_cue_cost(),
        "runs": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dynamics.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"dynamics on a {audio_s:.0f} s stereo call: {with_:.4f} vs {without:.4f} CPU-s per audio-s per channel "
        f"with / without ({result['ratio']:.3f}x); one snapshot of an hour-long call ({len(spurts)} spurts): "
        f"{snapshot_s * 1000:.1f} ms CPU (one every 10 s)"
    )
    cues = result["voice_cues_per_english_utterance"]
    print(
        f"voice cues per English utterance: {cues['voice_cues_cpu_ms']:.1f} ms CPU beside a "
        f"{cues['decode_cpu_ms']:.0f} ms Whisper decode ({cues['ratio']:.3f}x of the transcription worker's time); "
        f"written to {RESULTS / 'dynamics.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
