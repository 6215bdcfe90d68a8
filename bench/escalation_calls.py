"""The escalation bench's calls: built from corpus sentences, run once through the live analysis (window
estimates and judged utterances recorded), then replayed through any policy in milliseconds."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from features.corpus import Clip
from features.telephone import degrade
from service.channel_analysis import ChannelAnalysis, windows_over
from service.domain import Role
from service.emotion import EmotionEstimate
from service.escalation.detector import EscalationDetector
from service.escalation.policy import Level, Policy, parse_policy
from service.judgement.fusion import FusionOptions, fuse
from service.judgement.judge import UtteranceJudge
from service.judgement.results import UtteranceJudgement
from service.transcription.utterances import Utterance

RATE = 8000
AGENT_TURN_S = 3.0

# What the default policy's anger and disappointment rules were before the utterance judgement: the 3 s
# windows, judged against the speaker's calm start (the "before" column of the bench).
WINDOW_POLICY = parse_policy(
    """
[[score_rule]]
reason = "ANGER_SUSTAINED"
source = "window"
score = "anger"
enter = 0.6
exit = 0.3
levels = [[1, "MEDIUM"], [4, "HIGH"]]
max_gap_s = 12.0
cooldown_s = 60.0

[[score_rule]]
reason = "DISAPPOINTMENT_SUSTAINED"
source = "window"
score = "disappointment"
enter = 0.6
exit = 0.4
levels = [[8, "MEDIUM"]]
max_gap_s = 12.0
cooldown_s = 120.0
""",
    "windows (before)",
)


@dataclass(frozen=True)
class Sentence:
    start_s: float
    end_s: float
    text: str
    language: str  # "zh" / "en"


def customer_channel(clips: list[Clip]) -> tuple[np.ndarray, list[Sentence], float]:
    """Audio (one gain for the whole call), each sentence's place and words, and seconds of sentence audio."""
    parts, sentences, t = [np.zeros(RATE, np.float32)], [], 1.0
    for clip in clips:
        audio = degrade(clip.load(16000), 16000, out_rate_hz=RATE)
        sentences.append(Sentence(t, t + len(audio) / RATE, clip.sentence, clip.language.split("-")[0]))
        parts += [audio, np.zeros(int(AGENT_TURN_S * RATE), np.float32)]
        t += len(audio) / RATE + AGENT_TURN_S
    audio = np.concatenate(parts)
    speech_s = sum(len(p) for p in parts[1::2]) / RATE
    return (audio * (0.7 / max(1e-6, float(np.abs(audio).max())))).astype(np.float32), sentences, speech_s


@dataclass
class BenchCall:
    speaker: str
    kind: str  # "angry", "sad" (calm, then that), "from_start" (angry from the first word), "calm"
    switch_s: float  # where the emotion starts (first words for from_start; end of call for calm)
    calm_speech_s: float  # seconds of calm speech in it (before the switch)
    estimates: list[EmotionEstimate] = field(default_factory=list)
    judged: list[UtteranceJudgement] = field(default_factory=list)


def record_call(
    call: BenchCall,
    audio: np.ndarray,
    sentences: list[Sentence],
    *,
    analysis: ChannelAnalysis,
    judge: UtteranceJudge,
    encode,
    options: FusionOptions,
) -> BenchCall:
    """Run the live channel analysis over the call; judge every utterance as a transcription worker would
    (the decode's encoder states, the corpus sentence's words as the transcript)."""
    frame = RATE // 50

    def judged(utt: Utterance) -> UtteranceJudgement:
        said = [s for s in sentences if s.start_s < utt.end_s and s.end_s > utt.start_s]
        text = ("" if said and said[0].language == "zh" else " ").join(s.text for s in said)
        pieces, window_s = encode(utt.audio)
        return judge.judge(
            start_s=utt.start_s, end_s=utt.end_s, audio=utt.audio, pieces=pieces, encoder_window_s=window_s,
            text=text, language=said[0].language if said else "", context=analysis.context(utt), options=options,
        )  # fmt: skip

    for i in range(0, len(audio), frame):
        utterances, estimates = analysis.push(audio[i : i + frame])
        call.estimates += estimates
        call.judged += [judged(u) for u in utterances]
    call.judged += [judged(u) for u in analysis.finish()]
    return call


def refused(
    judgement: UtteranceJudgement, options: FusionOptions, estimates: list[EmotionEstimate]
) -> UtteranceJudgement:
    """The judgement with its scores fused again under other options (the sources are kept; the 3 s windows
    over it taken again from the call's estimates, as the live judge takes them)."""
    over = windows_over(estimates, judgement.start_s, judgement.end_s)
    if judgement.voice.source == "utterance":
        w_anger, w_sad = (
            (float(np.mean([e.anger for e in over])), float(np.mean([e.disappointment for e in over])))
            if over
            else (math.nan, math.nan)
        )
        judgement = dataclasses.replace(
            judgement, voice=dataclasses.replace(judgement.voice, windows_anger=w_anger, windows_sad=w_sad)
        )
    f = fuse(judgement.voice, judgement.words, options)
    return dataclasses.replace(
        judgement, anger=f.anger, disappointment=f.disappointment, anxiety=f.anxiety, confusion=f.confusion,
        neutral=f.neutral, voice_anger=f.voice_anger, voice_disappointment=f.voice_disappointment,
    )  # fmt: skip


def alerts_of(call: BenchCall, policy: Policy) -> list[tuple[float, str, Level]]:
    """(call time, reason, level) of every alert raised or upgraded, replaying the call's window estimates and
    judged utterances in call-time order through a detector with `policy` (fused again with its [fusion])."""
    detector = EscalationDetector("bench", policy)
    steps: list[tuple[float, int, object]] = [(e.end_s, 0, e) for e in call.estimates]
    steps += [(j.end_s, 1, refused(j, policy.fusion, call.estimates)) for j in call.judged]
    out = []
    for _, kind, item in sorted(steps, key=lambda s: (s[0], s[1])):
        if kind == 0:
            alerts = detector.on_emotion(0, Role.CUSTOMER, item)  # type: ignore[arg-type]
        else:
            alerts = detector.on_judgement(0, Role.CUSTOMER, item)  # type: ignore[arg-type]
        out += [(a.t_s, a.reason, a.level) for a in alerts]
    return out


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarise(calls: list[BenchCall], policy: Policy) -> dict:
    """The bench's numbers for one policy over all calls."""
    angry, high, delays, delays_high, start, sad_alerted, sad_anger, sad_anger_high = 0, 0, [], [], [], 0, 0, 0
    false_alerts, false_high, calm_s, speakers = 0, 0, 0.0, {c.speaker for c in calls}
    for call in calls:
        alerts = alerts_of(call, policy)
        before = [a for a in alerts if a[0] < call.switch_s]
        if call.kind != "from_start":
            false_alerts += len({a[1] for a in before})
            false_high += any(a[2] is Level.HIGH for a in before)
            calm_s += call.calm_speech_s
        after = [a for a in alerts if a[0] >= call.switch_s]
        anger = [a for a in after if a[1] == "ANGER_SUSTAINED"]
        if call.kind == "angry" and anger:
            angry += 1
            delays.append(anger[0][0] - call.switch_s)
            first_high = [a for a in anger if a[2] is Level.HIGH]
            if first_high:
                high += 1
                delays_high.append(first_high[0][0] - call.switch_s)
        elif call.kind == "from_start" and anger:
            start.append(anger[0][0] - call.switch_s)
        elif call.kind == "sad":
            sad_alerted += any(a[1] == "DISAPPOINTMENT_SUSTAINED" for a in after)
            sad_anger += bool(anger)
            sad_anger_high += any(a[2] is Level.HIGH for a in anger)
    n, hours = len(speakers), calm_s / 3600
    return {
        "policy": policy.source,
        "angry_calls_alerted": round(angry / n, 3),
        "angry_calls_alerted_high": round(high / n, 3),
        "switch_to_first_alert_s": {"p50": pct(delays, 50), "p95": pct(delays, 95)},
        "alerted_within_10_s": sum(d <= 10.0 for d in delays),
        "switch_to_high_alert_s": {"p50": pct(delays_high, 50), "p95": pct(delays_high, 95)},
        "angry_from_start_calls_alerted": round(len(start) / n, 3),
        "angry_from_start_alerted_within_10_s": round(sum(d <= 10.0 for d in start) / n, 3),
        "angry_from_start_first_words_to_alert_s": {"p50": pct(start, 50), "p95": pct(start, 95)},
        "sad_calls_alerted": round(sad_alerted / n, 3),
        "sad_calls_with_anger_alert": sad_anger,
        "sad_calls_with_high_anger_alert": sad_anger_high,
        "calm_speech_hours": round(hours, 3),
        "false_alerts_per_hour_calm_speech": round(false_alerts / hours, 2) if hours else math.nan,
        "false_alerts": false_alerts,
        "false_high_alerts_per_hour_calm_speech": round(false_high / hours, 2) if hours else math.nan,
    }
