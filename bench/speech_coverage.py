"""Speech coverage of the speech activity detector per emotion and intensity, and what it takes for speech
on signals that are not speech. Silero alone (the previous detector) and Silero + loud voiced speech (the
current one) side by side, on the same audio in one run.

Coverage: the share of a clip's speech (32 ms windows of the studio clip within 30 dB of its loudest)
that the detector marks as speech (as the endpointer does: from a window >= 0.3 until one < 0.15) on the same clip through a phone
line (8 kHz, 300-3400 Hz, G.711 mu-law, back to 16 kHz as the service does). Per actor, the mean over the
actor's clips; `--gain-db` also runs every clip that much louder before the line (hard-clipped, as a hot
line is). Not speech: seconds marked as speech in 10 s of each of hiss, hum, tones, DTMF, ring-back and
synthetic hold music (from ../shared/cases/after-music when present).

    python -m bench.speech_coverage [--gain-db 14]

Writes bench/results/speech_coverage.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from features.corpus import read_labels, shared_data_dir
from features.telephone import degrade
from service.audio.resample import StreamResampler
from service.simulate import telephone_band
from service.speech_activity import LoudVoiceOptions, SpeechActivity
from service.transcription.vad import WINDOW_SAMPLES, SileroModel

RESULTS = Path(__file__).resolve().parent / "results"
THRESHOLD = 0.3
NEG_THRESHOLD = 0.15
DETECTORS = {"silero": LoudVoiceOptions(enabled=False), "silero+loud": LoudVoiceOptions()}


def speech_windows(studio_16k: np.ndarray) -> np.ndarray:
    n = len(studio_16k) // WINDOW_SAMPLES
    db = 10 * np.log10(np.mean(studio_16k[: n * WINDOW_SAMPLES].reshape(n, WINDOW_SAMPLES) ** 2, axis=1) + 1e-12)
    return db > db.max() - 30


def line(audio_8k: np.ndarray) -> np.ndarray:
    return StreamResampler(8000).push(audio_8k.astype(np.float32), last=True)


def probabilities(model: SileroModel, audio_16k: np.ndarray, options: LoudVoiceOptions) -> np.ndarray:
    return SpeechActivity(model, options).push(audio_16k)


def decisions(p: np.ndarray) -> np.ndarray:
    """Speech per window with the endpointer's hysteresis: from >= THRESHOLD until < NEG_THRESHOLD."""
    out, on = np.zeros(len(p), dtype=bool), False
    for i, v in enumerate(p):
        on = v >= THRESHOLD or (on and v >= NEG_THRESHOLD)
        out[i] = on
    return out


def not_speech_signals() -> dict[str, np.ndarray]:
    """10 s each at 8 kHz, telephone band."""
    t = np.arange(10 * 8000) / 8000
    rng = np.random.default_rng(0)
    out = {
        "hiss": 0.05 * rng.standard_normal(len(t)),
        "hum_50hz_harmonics": sum(0.3 * np.sin(2 * np.pi * 50 * k * t) / k for k in range(1, 12)),
        "tone_425hz": 0.3 * np.sin(2 * np.pi * 425 * t),
        "tone_1khz": 0.3 * np.sin(2 * np.pi * 1000 * t),
        "dtmf": 0.2 * (np.sin(2 * np.pi * 770 * t) + np.sin(2 * np.pi * 1336 * t)) * (np.floor(t * 5) % 2 == 0),
        "ringback": 0.2 * (np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 480 * t)) * ((t % 6) < 2),
    }
    music = shared_data_dir().parent / "cases" / "after-music" / "music_then_speech_mulaw8k.wav"
    if music.exists():
        from service.audio.wavfile import read_wav

        wav = read_wav(music)
        out["hold_music_case"] = wav.format.decode(wav.data)[: 26 * 8000, 0]
    return {k: telephone_band(np.asarray(v, np.float32), 8000) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gain-db", type=float, default=14.0, help="also run the clips this much louder (clipped)")
    args = parser.parse_args(argv)
    labels = shared_data_dir() / "ravdess" / "LABELS.csv"
    if not labels.exists():
        print(f"speech_coverage: {labels} not found (set CALLGUARD_SHARED_DATA)", file=sys.stderr)
        return 2
    with open(labels, encoding="utf-8") as f:
        intensity = {r["path"]: r["intensity"] for r in csv.DictReader(f)}
    clips = [c for c in read_labels(labels) if c.emotion in ("neutral", "calm", "angry")]
    model = SileroModel()
    cov: dict[tuple, list[float]] = defaultdict(list)
    for i, clip in enumerate(clips, 1):
        studio = clip.load(16000)
        ref = speech_windows(studio)
        kind = "calm/neutral" if clip.emotion in ("neutral", "calm") else "angry"
        kind += "_" + intensity[str(clip.path.relative_to(clip.path.parent.parent))]
        for gain_db in (0.0, args.gain_db):
            hot = np.clip(studio * 10 ** (gain_db / 20), -1, 1)
            audio = line(degrade(hot, 16000, out_rate_hz=8000))
            for name, options in DETECTORS.items():
                p = probabilities(model, audio, options)
                n = min(len(p), len(ref))
                cov[name, gain_db, kind, clip.speaker].append(float(np.mean(decisions(p)[:n][ref[:n]])))
        if i % 200 == 0 or i == len(clips):
            print(f"  {i}/{len(clips)} clips", file=sys.stderr, flush=True)

    table = []
    for name, gain_db, kind in sorted({k[:3] for k in cov}, key=lambda k: (k[1], k[2], k[0])):
        per_actor = {s: float(np.mean(v)) for (n, g, k, s), v in cov.items() if (n, g, k) == (name, gain_db, kind)}
        vals = np.array(list(per_actor.values()))
        table.append({
            "detector": name, "gain_db": gain_db, "speech": kind, "actors": len(vals),
            "coverage_mean": round(float(vals.mean()), 3), "coverage_min_actor": round(float(vals.min()), 3),
            "actors_below_0.95": int(np.sum(vals < 0.95)), "actors_below_0.6": int(np.sum(vals < 0.6)),
        })  # fmt: skip
    not_speech = {}
    for kind, audio in not_speech_signals().items():
        x = line(audio)
        not_speech[kind] = {
            name: round(float(np.sum(decisions(probabilities(model, x, o)))) * WINDOW_SAMPLES / 16000, 2)
            for name, o in DETECTORS.items()
        }
    result = {"benchmark": "speech_coverage", "threshold": THRESHOLD, "coverage": table, "not_speech_s": not_speech}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speech_coverage.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'gain':>5} {'speech':14} {'detector':12} {'mean':>6} {'min actor':>9} {'<0.95':>6} {'<0.6':>5}")
    for r in table:
        print(
            f"{r['gain_db']:5.0f} {r['speech']:14} {r['detector']:12} {r['coverage_mean']:6.3f} "
            f"{r['coverage_min_actor']:9.3f} {r['actors_below_0.95']:6d} {r['actors_below_0.6']:5d}"
        )
    print("\nseconds taken for speech (of 10 s; hold music 26 s):")
    for kind, v in not_speech.items():
        print(f"  {kind:20} " + "  ".join(f"{k} {s:5.2f}" for k, s in v.items()))
    print(f"written to {RESULTS / 'speech_coverage.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
