"""Escalation quality on calls built from real speech: how many escalating calls alert, how many false
alerts calm speech raises per hour, and how long after the emotion switch the alert comes (call time).

Per speaker (24 RAVDESS actors, 2 CASIA speakers), the customer channel of three calls, through a phone
line, each sentence followed by 3 s of silence (the agent's turn on the other channel):
  angry: 10 calm/neutral sentences, then 6 angry ones; sad: the same with 6 sad ones; calm: calm and
  neutral sentences only (all of RAVDESS's 12, 20 of CASIA's).
The path is the live one: Silero VAD gate, ChannelEmotion, EscalationDetector with the default policy.
Writes bench/results/escalation.json.

    python -m bench.escalation
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from features.corpus import Clip, read_labels, shared_data_dir
from features.model import EmotionModel
from features.telephone import degrade
from service.audio.resample import StreamResampler
from service.domain import Role
from service.emotion import ChannelEmotion, EmotionOptions
from service.escalation.detector import EscalationDetector
from service.escalation.policy import DEFAULT_POLICY_FILE, Level, load_policy
from service.transcription.utterances import UtteranceSegmenter
from service.transcription.vad import SileroModel

RESULTS = Path(__file__).resolve().parent / "results"
RATE = 8000
AGENT_TURN_S = 3.0


def customer_channel(clips: list[Clip]) -> tuple[np.ndarray, list[float], float]:
    """Audio, each sentence's start time, and seconds of sentence audio."""
    parts, starts, t = [np.zeros(RATE, np.float32)], [], 1.0
    for clip in clips:
        audio = degrade(clip.load(16000), 16000, out_rate_hz=RATE)
        starts.append(t)
        parts += [audio, np.zeros(int(AGENT_TURN_S * RATE), np.float32)]
        t += len(audio) / RATE + AGENT_TURN_S
    audio = np.concatenate(parts)
    speech_s = sum(len(p) for p in parts[1::2]) / RATE
    return (audio * (0.7 / max(1e-6, float(np.abs(audio).max())))).astype(np.float32), starts, speech_s


def run_call(model: EmotionModel, vad_model: SileroModel, audio: np.ndarray) -> list[tuple[float, str, Level]]:
    """(call time raised, reason, level) for every alert raised or upgraded."""
    vad, resampler = UtteranceSegmenter(vad_model), StreamResampler(RATE)
    channel = ChannelEmotion(model, RATE, EmotionOptions())
    detector = EscalationDetector("bench", load_policy(DEFAULT_POLICY_FILE))
    out = []
    frame = RATE // 50
    for i in range(0, len(audio), frame):
        chunk = audio[i : i + frame]
        vad.push(resampler.push(chunk))
        for estimate in channel.push(chunk, vad.speech_s):
            out += [(a.t_s, a.reason, a.level) for a in detector.on_emotion(0, Role.CUSTOMER, estimate)]
    return out


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def main() -> int:
    data = shared_data_dir()
    clips = read_labels(data / "ravdess" / "LABELS.csv") + read_labels(data / "casia" / "LABELS.csv")
    model, vad_model = EmotionModel.load(), SileroModel()
    speakers = sorted({c.speaker for c in clips})
    angry_alerted, angry_high, sad_alerted, delays, delays_high = 0, 0, 0, [], []
    false_alerts, false_high, calm_speech_s, per_speaker = 0, 0, 0.0, []
    started = time.monotonic()
    for n, speaker in enumerate(speakers, 1):
        mine = [c for c in clips if c.speaker == speaker]
        calm = [c for c in mine if c.emotion in ("neutral", "calm")]
        row = {"speaker": speaker}
        for target in ("angry", "sad"):
            after = [c for c in mine if c.emotion == target][:6]
            audio, starts, _ = customer_channel(calm[:10] + after)
            switch_s = starts[10]
            alerts = run_call(model, vad_model, audio)
            before = [a for a in alerts if a[0] < switch_s]
            false_alerts += len({a[1] for a in before})
            false_high += any(a[2] is Level.HIGH for a in before)
            calm_speech_s += sum(len(c.load(RATE)) for c in calm[:10]) / RATE
            wanted = "ANGER_SUSTAINED" if target == "angry" else "DISAPPOINTMENT_SUSTAINED"
            hits = [a for a in alerts if a[0] >= switch_s and a[1] == wanted]
            row[target] = [(round(t - switch_s, 1), r, lv.name) for t, r, lv in alerts]
            if target == "angry" and hits:
                angry_alerted += 1
                delays.append(hits[0][0] - switch_s)
                high = [a for a in hits if a[2] is Level.HIGH]
                if high:
                    angry_high += 1
                    delays_high.append(high[0][0] - switch_s)
            elif target == "sad" and hits:
                sad_alerted += 1
        audio, _, speech_s = customer_channel(calm[:20])
        alerts = run_call(model, vad_model, audio)
        false_alerts += len({a[1] for a in alerts})
        false_high += any(a[2] is Level.HIGH for a in alerts)
        calm_speech_s += speech_s
        row["calm"] = [(round(t, 1), r, lv.name) for t, r, lv in alerts]
        per_speaker.append(row)
        print(f"  {n}/{len(speakers)} {speaker}: {row}", file=sys.stderr, flush=True)
    hours = calm_speech_s / 3600
    result = {
        "speakers": len(speakers),
        "angry_calls_alerted": round(angry_alerted / len(speakers), 3),
        "angry_calls_alerted_high": round(angry_high / len(speakers), 3),
        "sad_calls_alerted": round(sad_alerted / len(speakers), 3),
        "switch_to_first_alert_s": {"p50": pct(delays, 50), "p95": pct(delays, 95)},
        "switch_to_high_alert_s": {"p50": pct(delays_high, 50), "p95": pct(delays_high, 95)},
        "calm_speech_hours": round(hours, 3),
        "false_alerts_per_hour_calm_speech": round(false_alerts / hours, 2),
        "false_high_alerts_per_hour_calm_speech": round(false_high / hours, 2),
        "per_speaker": per_speaker,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "escalation.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\nescalation on {len(speakers)} speakers: angry calls alerted {result['angry_calls_alerted']:.0%} "
        f"(HIGH {result['angry_calls_alerted_high']:.0%}), switch->first alert p50 "
        f"{result['switch_to_first_alert_s']['p50']} s p95 {result['switch_to_first_alert_s']['p95']} s, "
        f"switch->HIGH p50 {result['switch_to_high_alert_s']['p50']} s p95 {result['switch_to_high_alert_s']['p95']} s; "
        f"sad calls alerted {result['sad_calls_alerted']:.0%}; false alerts {result['false_alerts_per_hour_calm_speech']}"
        f"/h of calm speech (HIGH {result['false_high_alerts_per_hour_calm_speech']}/h, {hours:.2f} h); "
        f"written to {RESULTS / 'escalation.json'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
