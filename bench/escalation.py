"""Escalation quality on calls built from real speech: how many escalating calls alert, how many false
alerts calm speech raises per hour, how many sad calls raise an anger alert (a distressed caller paged as
angry: not calm speech, but a wrong label supervisors would see), and how long after the emotion switch the
alert comes (call time).

Per speaker (24 RAVDESS actors, 2 CASIA speakers), the customer channel of three calls, through a phone
line, each sentence followed by 3 s of silence (the agent's turn on the other channel):
  angry: 10 calm/neutral sentences, then 6 angry ones; sad: the same with 6 sad ones; calm: calm and
  neutral sentences only (all of RAVDESS's 12, 20 of CASIA's).
The path is the live one: Silero VAD gate, ChannelEmotion, EscalationDetector with the default policy.
Each speaker's calls are scored by an emotion model that never heard that speaker (the shipped recipe
refitted without the speaker's fold; `--model shipped` uses trained_models/ as it is, trained on all of them).
Then the live check: `--live-calls` of the angry calls (speakers spread over the set), as stereo 8 kHz mu-law
with the agent channel silent, are streamed at real-time pace and at the same time into a fresh `callguard
serve` process while one supervisor client holds `SubscribeAlerts` open. For each first anger alert it
measures the wall-clock delay from sending the switch to the subscriber receiving it, and from the policy's
decision (the alert's `updated_at`) to the subscriber receiving it.
Beside the default policy, a sweep of the anger rule's MEDIUM line over the same estimates shows how far
a looser line moves the delay and what it costs in false alerts on calm speech.
Writes bench/results/escalation.json.

    python -m bench.escalation [--live-calls 6]
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc

from bench.stream_load import start_server
from features.corpus import Clip, read_labels, shared_data_dir
from features.model import EmotionModel
from features.telephone import degrade
from features.threads import one_blas_thread
from service.channel_analysis import ChannelAnalysis
from service.client import StreamOptions, requests_for
from service.domain import Role
from service.escalation.detector import EscalationDetector
from service.escalation.policy import DEFAULT_POLICY_FILE, Level, load_policy
from service.simulate import Turn, build_call
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


def run_call(
    model: EmotionModel, vad_model: SileroModel, audio: np.ndarray
) -> tuple[list[tuple[float, str, Level]], list[tuple[float, float]]]:
    """(call time raised, reason, level) for every alert raised or upgraded, and (call time, anger) of
    every estimate."""
    channel = ChannelAnalysis(RATE, vad_model=vad_model, emotion_model=model)
    detector = EscalationDetector("bench", load_policy(DEFAULT_POLICY_FILE))
    out, trace = [], []
    frame = RATE // 50
    for i in range(0, len(audio), frame):
        for estimate in channel.push(audio[i : i + frame])[1]:
            trace.append((estimate.end_s, estimate.anger))
            out += [(a.t_s, a.reason, a.level) for a in detector.on_emotion(0, Role.CUSTOMER, estimate)]
    return out, trace


SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def first_run(trace: list[tuple[float, float]], line: float, sustain: int, after_s: float = -1.0) -> float | None:
    """Call time of the first estimate that ends `sustain` consecutive estimates at or above `line`."""
    run = 0
    for t, anger in trace:
        if t <= after_s:
            continue
        run = run + 1 if anger >= line else 0
        if run >= sustain:
            return t
    return None


def threshold_sweep(
    angry: list[tuple[list[tuple[float, float]], float]], calm: list[list[tuple[float, float]]]
) -> list:
    """What the anger rule's MEDIUM line could buy: for each threshold and sustain (1 or 2 estimates in a row,
    i.e. 1 or 2 s of speech), a rule that alerts when the estimates reach it, on the same calls. `angry`:
    (trace, switch call time) per angry call; `calm`: traces of calm speech only (calm calls, the calm part of
    the angry calls, whole sad calls: none of it should raise anger). Shows whether the delay goal is a matter
    of policy or of the model's scores."""
    rows = []
    for sustain in (1, 2):
        for line in SWEEP:
            delays = []
            for trace, switch_s in angry:
                hit = first_run(trace, line, sustain, after_s=switch_s)
                if hit is not None:
                    delays.append(hit - switch_s)
            false_calls = sum(first_run(trace, line, sustain) is not None for trace in calm)
            rows.append(
                {
                    "threshold": line,
                    "sustain_s": sustain,
                    "angry_calls_alerted": len(delays),
                    "alerted_within_10_s": sum(d <= 10.0 for d in delays),
                    "switch_to_alert_s": {"p50": pct(delays, 50), "p95": pct(delays, 95)},
                    "calm_stretches_with_false_alert": false_calls,
                }
            )
    return rows


FOLDS = 6


def speaker_models(speakers: list[str], *, held_out: bool) -> dict[str, EmotionModel]:
    """The emotion model that scores each speaker's calls: the shipped one, or the shipped recipe refitted
    without that speaker's fold (speakers dealt round-robin into FOLDS folds, so the two Mandarin speakers
    fall in different folds), as features.train's cross-validation does."""
    if not held_out:
        shipped = EmotionModel.load()
        return dict.fromkeys(speakers, shipped)
    from features.embedding import SpeechEncoder
    from features.train import fit_emotion_model, load

    data, encoder = load(), SpeechEncoder.load()
    line = EmotionModel.load().meta["absolute_anger_line"]  # one scalar from features.train's own CV
    models = {}
    for k in range(FOLDS):
        fold = tuple(speakers[k::FOLDS])
        print(f"  fitting the emotion model without {', '.join(fold)}", file=sys.stderr, flush=True)
        model = fit_emotion_model(data, 0, without_speakers=fold, anger_line=line)
        model._encoder = encoder  # one encoder for all folds
        models.update(dict.fromkeys(fold, model))
    return models


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def live_delays(calls: list[tuple[str, np.ndarray, float]]) -> dict:
    """Stream (speaker, customer audio, switch call time) calls at real-time pace, all at once, into a fresh
    server, with one supervisor subscribed; returns the delays to the first anger alert of each call."""
    import tempfile

    received: list[tuple[float, float, pb.Alert]] = []  # (monotonic, unix time, alert) on arrival
    switch_sent: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as data_dir:
        proc, address = start_server(data_dir)
        try:
            channel = grpc.insecure_channel(address)
            subscription = pb_grpc.CallMonitorStub(channel).SubscribeAlerts(pb.SubscribeAlertsRequest())

            def listen() -> None:
                try:
                    for alert in subscription:
                        received.append((time.monotonic(), time.time(), alert))
                except grpc.RpcError:
                    pass  # cancelled at the end

            def one_call(call_id: str, audio: np.ndarray, switch_s: float, delay_s: float) -> None:
                time.sleep(delay_s)
                wav = build_call([Turn(0, 0.0, audio, "")], sample_rate_hz=RATE, band_limit=False)
                sent: list[tuple[float, float]] = []
                options = StreamOptions(call_id=call_id, language="auto", realtime=True)
                with grpc.insecure_channel(address) as ch:
                    for _ in pb_grpc.CallMonitorStub(ch).StreamCall(requests_for(wav, options, sent_log=sent)):
                        pass
                switch_sent[call_id] = next(wall for call_s, wall in sent if call_s > switch_s)

            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            threads = [
                threading.Thread(target=one_call, args=(f"live-{speaker}", audio, switch_s, 0.37 * i))
                for i, (speaker, audio, switch_s) in enumerate(calls)
            ]
            for t in threads:
                t.start()
            for n, t in enumerate(threads, 1):
                t.join()
                print(f"  live call {n}/{len(threads)} done", file=sys.stderr, flush=True)
            time.sleep(1.0)
            subscription.cancel()
            channel.close()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    from_switch, from_decision, alerted = [], [], 0
    for speaker, _, switch_s in calls:
        call_id = f"live-{speaker}"
        mine = [
            (mono, unix, a)
            for mono, unix, a in received
            if a.call_id == call_id and "ANGER_SUSTAINED" in a.reasons and a.t_s >= switch_s
        ]
        if not mine:
            continue
        alerted += 1
        mono, unix, alert = mine[0]
        from_switch.append(mono - switch_sent[call_id])
        from_decision.append(unix - alert.updated_at.ToMicroseconds() / 1e6)
    decisions = [unix - a.updated_at.ToMicroseconds() / 1e6 for _, unix, a in received]
    return {
        "calls": len(calls),
        "calls_alerted": alerted,
        "alerts_received": len(received),
        "switch_to_subscriber_s": {"p50": pct(from_switch, 50), "p95": pct(from_switch, 95)},
        "decision_to_subscriber_s": {
            "p50": round(float(np.percentile(decisions, 50)), 3) if decisions else None,
            "p95": round(float(np.percentile(decisions, 95)), 3) if decisions else None,
            "max": round(max(decisions), 3) if decisions else None,
        },
        "first_anger_alert_decision_to_subscriber_s": [round(d, 3) for d in from_decision],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live-calls", type=int, default=6, help="angry calls streamed at real-time pace (0: skip)")
    parser.add_argument(
        "--model",
        choices=["held-out", "shipped"],
        default="held-out",
        help="held-out: each speaker's calls scored by the shipped recipe refitted without that speaker (6 folds); "
        "shipped: trained_models/ as it is (it was trained on every speaker here: optimistic)",
    )
    args = parser.parse_args(argv)
    one_blas_thread()  # as the service runs the emotion path
    data = shared_data_dir()
    clips = read_labels(data / "ravdess" / "LABELS.csv") + read_labels(data / "casia" / "LABELS.csv")
    vad_model = SileroModel()
    speakers = sorted({c.speaker for c in clips})
    models = speaker_models(speakers, held_out=args.model == "held-out")
    angry_alerted, angry_high, sad_alerted, delays, delays_high = 0, 0, 0, [], []
    sad_anger, sad_anger_high = (
        0,
        0,
    )  # sad calls whose sad part raised an anger alert (a distressed caller paged as angry)
    false_alerts, false_high, calm_speech_s, per_speaker = 0, 0, 0.0, []
    from_start: list[float] = []  # angry-from-the-start calls: first words -> first anger alert
    sweep_angry: list[tuple[list[tuple[float, float]], float]] = []
    sweep_calm: list[list[tuple[float, float]]] = []
    live_every = max(1, len(speakers) // args.live_calls) if args.live_calls else 0
    live_calls: list[tuple[str, np.ndarray, float]] = []
    started = time.monotonic()
    for n, speaker in enumerate(speakers, 1):
        mine = [c for c in clips if c.speaker == speaker]
        calm = [c for c in mine if c.emotion in ("neutral", "calm")]
        row = {"speaker": speaker}
        for target in ("angry", "sad"):
            after = [c for c in mine if c.emotion == target][:6]
            audio, starts, _ = customer_channel(calm[:10] + after)
            switch_s = starts[10]
            if target == "angry" and live_every and (n - 1) % live_every == 0 and len(live_calls) < args.live_calls:
                live_calls.append((speaker, audio, switch_s))
            alerts, trace = run_call(models[speaker], vad_model, audio)
            sweep_calm.append([(t, a) for t, a in trace if t <= switch_s] if target == "angry" else trace)
            if target == "angry":
                sweep_angry.append((trace, switch_s))
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
            elif target == "sad":
                sad_alerted += bool(hits)
                anger = [a for a in alerts if a[0] >= switch_s and a[1] == "ANGER_SUSTAINED"]
                sad_anger += bool(anger)
                sad_anger_high += any(a[2] is Level.HIGH for a in anger)
        angry = [c for c in mine if c.emotion == "angry"][:6]
        audio, starts, _ = customer_channel(angry)  # angry from the first word: no calm start to learn from
        alerts, _ = run_call(models[speaker], vad_model, audio)
        hits = [t for t, r, _ in alerts if r == "ANGER_SUSTAINED"]
        row["angry_from_start"] = [(round(t - starts[0], 1), r, lv.name) for t, r, lv in alerts]
        if hits:
            from_start.append(hits[0] - starts[0])
        audio, _, speech_s = customer_channel(calm[:20])
        alerts, trace = run_call(models[speaker], vad_model, audio)
        sweep_calm.append(trace)
        false_alerts += len({a[1] for a in alerts})
        false_high += any(a[2] is Level.HIGH for a in alerts)
        calm_speech_s += speech_s
        row["calm"] = [(round(t, 1), r, lv.name) for t, r, lv in alerts]
        per_speaker.append(row)
        print(f"  {n}/{len(speakers)} {speaker}: {row}", file=sys.stderr, flush=True)
    hours = calm_speech_s / 3600
    live = live_delays(live_calls) if live_calls else None
    result = {
        "model": args.model,
        "speakers": len(speakers),
        "angry_calls_alerted": round(angry_alerted / len(speakers), 3),
        "angry_calls_alerted_high": round(angry_high / len(speakers), 3),
        "sad_calls_alerted": round(sad_alerted / len(speakers), 3),
        "sad_calls_with_anger_alert": sad_anger,
        "sad_calls_with_high_anger_alert": sad_anger_high,
        "switch_to_first_alert_s": {"p50": pct(delays, 50), "p95": pct(delays, 95)},
        "switch_to_high_alert_s": {"p50": pct(delays_high, 50), "p95": pct(delays_high, 95)},
        "angry_from_start_calls_alerted": round(len(from_start) / len(speakers), 3),
        "angry_from_start_alerted_within_10_s": round(sum(d <= 10.0 for d in from_start) / len(speakers), 3),
        "angry_from_start_first_words_to_alert_s": {"p50": pct(from_start, 50), "p95": pct(from_start, 95)},
        "calm_speech_hours": round(hours, 3),
        "false_alerts_per_hour_calm_speech": round(false_alerts / hours, 2),
        "false_high_alerts_per_hour_calm_speech": round(false_high / hours, 2),
        "live": live,
        "anger_threshold_sweep": threshold_sweep(sweep_angry, sweep_calm),
        "per_speaker": per_speaker,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "escalation.json").write_text(json.dumps(result, indent=2) + "\n")
    traces = Path("var") / "escalation_traces.json"  # every estimate, for trying other policies offline
    traces.parent.mkdir(exist_ok=True)
    traces.write_text(json.dumps({"angry": sweep_angry, "calm": sweep_calm}))
    print(
        f"\nescalation ({args.model} emotion model) on {len(speakers)} speakers: angry calls alerted {result['angry_calls_alerted']:.0%} "
        f"(HIGH {result['angry_calls_alerted_high']:.0%}), switch->first alert p50 "
        f"{result['switch_to_first_alert_s']['p50']} s p95 {result['switch_to_first_alert_s']['p95']} s, "
        f"switch->HIGH p50 {result['switch_to_high_alert_s']['p50']} s p95 {result['switch_to_high_alert_s']['p95']} s; "
        f"angry from the start: {result['angry_from_start_calls_alerted']:.0%} alerted, "
        f"{result['angry_from_start_alerted_within_10_s']:.0%} within 10 s of the first words; "
        f"sad calls alerted {result['sad_calls_alerted']:.0%} (anger alerts on {sad_anger} of them, HIGH on "
        f"{sad_anger_high}); false alerts {result['false_alerts_per_hour_calm_speech']}"
        f"/h of calm speech (HIGH {result['false_high_alerts_per_hour_calm_speech']}/h, {hours:.2f} h); "
        f"written to {RESULTS / 'escalation.json'}"
    )
    print(
        f"\nthe anger rule's MEDIUM line, on the same {len(speakers)} angry calls and {len(sweep_calm)} calm stretches:"
    )
    print("  line  sustain  alerted  within 10 s  p50 s  p95 s  calm stretches alerted")
    for row in result["anger_threshold_sweep"]:
        d = row["switch_to_alert_s"]
        print(
            f"  {row['threshold']:.2f}  {row['sustain_s']:>5} s  {row['angry_calls_alerted']:>7}  {row['alerted_within_10_s']:>11}  {d['p50']!s:>5}"
            f"  {d['p95']!s:>5}  {row['calm_stretches_with_false_alert']:>22}"
        )
    if live:
        print(
            f"live, {live['calls']} calls at real-time pace: {live['calls_alerted']} alerted; switch->subscriber "
            f"p50 {live['switch_to_subscriber_s']['p50']} s p95 {live['switch_to_subscriber_s']['p95']} s; "
            f"decision->subscriber p50 {live['decision_to_subscriber_s']['p50']} s "
            f"p95 {live['decision_to_subscriber_s']['p95']} s (max {live['decision_to_subscriber_s']['max']} s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
