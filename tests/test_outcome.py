"""Did the response work (issue 16): the effect rule on exact score sequences, and on calls built from real
speech streamed through the real server (an angry customer who calms down: effective; one who stays angry:
not effective), as GetCall, the analysis table and the CSV show it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from callguard.v1 import callguard_pb2 as pb

from service import convert
from service.cli.common import outcome_text
from service.domain import Role
from service.escalation.alerts import Alert
from service.escalation.detector import EscalationDetector
from service.escalation.outcome import Effect, judge, judge_call
from service.escalation.policy import DEFAULT_POLICY_FILE, Level, PolicyError, load_policy, parse_policy
from service.transcription.results import Segment, Word
from service.web import analysis
from tests.calls import conversation, pick
from tests.test_escalation import _stream, estimate

# The default policy's rules and [response] table, with its anger rule on the 3 s windows (enter 0.6, exit 0.3,
# MEDIUM after 1 s of speech) so score sequences of one estimate per second test the outcome rule exactly; the
# utterance rules' outcomes (the same rule over judged utterances) are tested below and end to end.
_DEFAULT = load_policy(DEFAULT_POLICY_FILE)
_WINDOW_ANGER = parse_policy(
    '[[score_rule]]\nreason = "ANGER_SUSTAINED"\nsource = "window"\nscore = "anger"\nenter = 0.6\nexit = 0.3\n'
    'levels = [[1, "MEDIUM"], [4, "HIGH"]]\n'
).score_rules
POLICY = dataclasses.replace(
    _DEFAULT, score_rules=_WINDOW_ANGER + tuple(r for r in _DEFAULT.score_rules if r.reason != "ANGER_SUSTAINED")
)


def _anger_alert(start_s: float = 10.0, t_s: float = 11.0, score: float = 0.8, **kw) -> Alert:
    return Alert("c", 0, Role.CUSTOMER, "ANGER_SUSTAINED", Level.MEDIUM, t_s, start_s, t_s, "anger", "soothe",
                 score_name="anger", score=score, **kw)  # fmt: skip


def _timeline(*runs: tuple[float, int]) -> list:
    """Scores once per second of speech from 10 s: (score, how many seconds) runs."""
    out, t = [], 10.0
    for score, n in runs:
        for _ in range(n):
            out.append(estimate(t, score))
            t += 1.0
    return out


@pytest.mark.parametrize(
    ("runs", "active", "effect", "to_calm", "relapsed"),
    [
        ([(0.8, 8), (0.1, 20)], False, Effect.EFFECTIVE, 7.0, None),  # calm 7 s after the alert was raised
        ([(0.8, 40)], False, Effect.NOT_EFFECTIVE, None, None),  # angry to the end
        ([(0.8, 8), (0.1, 10), (0.7, 5)], False, Effect.PARTLY, 7.0, 28.0),  # calmed, then angry again
        ([(0.8, 70), (0.1, 5)], False, Effect.PARTLY, 69.0, None),  # calmed, but only after a minute
        ([(0.8, 10), (0.45, 20)], False, Effect.PARTLY, None, None),  # never calm, anger down 0.8 -> 0.45
        ([(0.8, 10), (0.1, 2)], False, Effect.NOT_EFFECTIVE, None, None),  # 2 s of calm speech is not calm yet
        ([(0.8, 10)], True, Effect.PENDING, None, None),  # the call goes on, still angry
        ([(0.8, 1)], False, Effect.NO_SPEECH, None, None),  # silent after the alert was raised
    ],
)
def test_effect_rule(runs, active, effect, to_calm, relapsed) -> None:
    o = judge(_anger_alert(), _timeline(*runs), POLICY, call_active=active)
    assert o.effect is effect
    assert o.time_to_calm_s == (pytest.approx(to_calm) if to_calm is not None else None)
    assert o.relapsed_at_s == (pytest.approx(relapsed) if relapsed is not None else None)
    assert o.response_start_s == 11.0 and o.score_before == 0.8  # first raised after 1 s of speech


def test_phrase_alert_follows_anger_and_a_repeated_threat_is_a_relapse() -> None:
    threat = Alert("c", 0, Role.CUSTOMER, "THREAT_PHRASE", Level.HIGH, 12.0, 10.5, 12.0, "phrase", "escalate",
                   excerpt="I'll complain to your manager")  # fmt: skip
    timeline = _timeline((0.7, 3), (0.1, 20))
    o = judge(threat, timeline, POLICY, call_active=False)
    assert o.effect is Effect.EFFECTIVE and o.score_name == "anger" and o.score_before == pytest.approx(0.7)
    again = Alert("c", 0, Role.CUSTOMER, "THREAT_PHRASE", Level.HIGH, 30.0, 29.0, 30.0, "phrase", "escalate")
    o = judge(threat, timeline, POLICY, call_active=False, later_alerts=[threat, again])
    assert o.effect is Effect.PARTLY and o.relapsed_at_s == 29.0


def _said(rates: list[float | None]) -> list[Segment]:
    """Sentences of 7 syllables every 5 s of call time, each said at its rate (syllables/s); None: "好的"."""
    text = "我想问一下订单"
    return [
        Segment(5.0 * k, 5.0 * k + 7 / r, text, "zh", 1.0, -0.2, (Word(5.0 * k, 5.0 * k + 7 / r, text, 0.9),))
        if r is not None
        else Segment(5.0 * k, 5.0 * k + 0.6, "好的", "zh", 1.0, -0.2, (Word(5.0 * k, 5.0 * k + 0.6, "好的", 0.9),))
        for k, r in enumerate(rates)
    ]


@pytest.mark.parametrize(
    ("after", "active", "effect", "relapsed"),
    [
        ([4.2, 4.0, 4.1], False, Effect.EFFECTIVE, False),  # back to her own pace (4/s) at once
        ([6.0, 6.2, 5.8, 6.0], False, Effect.NOT_EFFECTIVE, False),  # still 1.5x
        ([4.2, 4.0, 6.0, 6.1], False, Effect.PARTLY, True),  # calmed, then fast again
        ([4.8, 4.8, 4.8], False, Effect.PARTLY, False),  # slower (1.2x) but not back at her own pace
        ([5.2, 5.6, 5.2], False, Effect.NOT_EFFECTIVE, False),  # slower (1.3x), still over the alert line
        ([4.2, 6.0, 4.1, 6.0], False, Effect.NOT_EFFECTIVE, False),  # never two calm sentences in a row
        ([6.0], True, Effect.PENDING, False),
        ([], False, Effect.NO_SPEECH, False),
        ([None], False, Effect.NO_SPEECH, False),  # only "好的": too short to time
    ],
)
def test_a_pace_alert_is_judged_on_the_pace(after, active, effect, relapsed) -> None:
    """A rate alert (ANXIETY_FAST_SPEECH) is judged on the speaker's pace against their own, measured as the
    rule did: 4 sentences at 4/s, 2 at 6/s (1.5x) raise it; what comes after decides."""
    segments = _said([4.0, 4.0, 4.0, 4.0, 6.0, 6.0, *after])
    d = EscalationDetector("c", POLICY)
    alerts = [
        a
        for s in segments
        for a in d.on_transcript(0, Role.CUSTOMER, s.start_s, s.end_s, s.text, speech_rate_sps=s.speech_rate_sps)
    ]
    first = alerts[0]
    assert first.reason == "ANXIETY_FAST_SPEECH"
    (o, *_) = judge_call(alerts, [], POLICY, call_active=active, segments=[(0, s) for s in segments])
    assert o.effect is effect and o.score_name == "pace"
    assert o.score_before == pytest.approx(1.5) and o.response_start_s == pytest.approx(first.t_s, abs=0.01)
    assert (o.relapsed_at_s is not None) is relapsed
    if effect is Effect.EFFECTIVE:
        assert o.time_to_calm_s == pytest.approx(30.0 + 7 / 4.2 - first.t_s, abs=0.01) and o.score_after < 1.1
        text = outcome_text(convert.outcome_pb(o))
        assert text.startswith("effective (有效): pace 1.50x -> 1.0") and "their own over the last sentences" in text


@pytest.mark.parametrize(
    ("after", "active", "effect", "relapsed"),
    [
        (["好的明白了", "那我明天再打过来", "谢谢你"], False, Effect.EFFECTIVE, False),  # moved on
        (["那怎么办?", "为什么?", "是不是要重新下单?"], False, Effect.NOT_EFFECTIVE, False),  # still asking
        (["好的", "明白了", "谢谢", "那怎么退?", "什么时候到?", "要多久?"], False, Effect.PARTLY, True),
        (["好的", "那运费呢?", "明白了", "谢谢"], False, Effect.PARTLY, False),  # 1 of 4 sentences asked
        (["那怎么办?"], True, Effect.PENDING, False),
        ([], False, Effect.NO_SPEECH, False),
    ],
)
def test_a_questions_alert_is_judged_on_whether_they_stopped_asking(after, active, effect, relapsed) -> None:
    """CONFUSION_QUESTIONS (3 questions within a minute) is judged on the speaker's sentences after it: 3 in a
    row that are not questions is calm; asking 3 times within a minute again is a relapse."""
    asked = ["这个要多少钱?", "什么时候能到?", "是不是要先登录?"]
    segments = [Segment(5.0 * k, 5.0 * k + 2, t, "zh", 1.0, -0.2) for k, t in enumerate(asked + after)]
    d = EscalationDetector("c", POLICY)
    alerts = [a for s in segments for a in d.on_transcript(0, Role.CUSTOMER, s.start_s, s.end_s, s.text)]
    assert [a.reason for a in alerts][:1] == ["CONFUSION_QUESTIONS"] and alerts[0].t_s == 12.0
    (o, *_) = judge_call(alerts[:1], [], POLICY, call_active=active, segments=[(0, s) for s in segments])
    assert o.effect is effect and o.score_name == "questions" and o.score_before == 1.0
    assert (o.relapsed_at_s is not None) is relapsed
    if effect is Effect.EFFECTIVE:
        assert o.time_to_calm_s == 5.0 and o.score_after == 0.0  # the first "moved on" sentence ends at 17 s
        assert outcome_text(convert.outcome_pb(o)) == (
            "effective (有效): questions 100% -> 0% of their last sentences, calm 5 s after the alert"
        )


def test_calm_pace_below_own_pace_is_refused() -> None:
    with pytest.raises(PolicyError, match="calm_pace"):
        parse_policy("[response]\ncalm_pace = 0.9\n")
    with pytest.raises(PolicyError, match=r"calm_pace 1\.3 must be under the ratio of rate rule R"):
        parse_policy('[response]\ncalm_pace = 1.3\n[[rate_rule]]\nreason = "R"\nlevel = "MEDIUM"\nratio = 1.25\n')


def _speech_clips(ravdess, speaker: str) -> dict[str, list]:
    """A RAVDESS actor's calm (neutral first) and strong-intensity angry sentences at 8 kHz, one gain for all
    (a shout stays louder than calm speech), trimmed to their speech."""
    from tests.test_dynamics import _speech

    calm = pick(ravdess, speaker=speaker, emotion="neutral", n=4) + pick(ravdess, speaker=speaker, emotion="calm", n=8)
    strong = [c for c in ravdess if c.speaker == speaker and c.emotion == "angry" and c.path.name.split("-")[3] == "02"]
    raw = {"calm": [_speech(c, peak=False) for c in calm], "strong": [_speech(c, peak=False) for c in strong]}
    gain = 0.7 / max(float(np.abs(a).max()) for v in raw.values() for a in v)
    return {k: [(a * gain).astype(np.float32) for a in v] for k, v in raw.items()}


def _call(ravdess, *, calm_down: bool):
    """ravdess_21: 6 calm sentences, 4 strong-intensity angry ones, then 6 more calm ones or 6 more angry
    (normal intensity); the agent (ravdess_18, calm) answers between them."""
    speaker = "ravdess_21"
    calm = pick(ravdess, speaker=speaker, emotion="neutral", n=4) + pick(ravdess, speaker=speaker, emotion="calm", n=8)
    angry = [c for c in ravdess if c.speaker == speaker and c.emotion == "angry"]
    strong = [c for c in angry if c.path.name.split("-")[3] == "02"]
    normal = [c for c in angry if c.path.name.split("-")[3] == "01"]
    customer = calm[:6] + strong[:4] + (calm[6:12] if calm_down else normal[:4] + strong[:2])
    agent = [c for c in ravdess if c.speaker == "ravdess_18" and c.emotion == "calm"]
    order = []
    for i, clip in enumerate(customer):
        order.append((0, clip))
        order.append((1, agent[i % len(agent)]))
    return conversation(order, gap_s=0.6, keep_levels=True)


@pytest.mark.parametrize(
    ("calm_down", "effect"), [(True, pb.AlertOutcome.EFFECTIVE), (False, pb.AlertOutcome.NOT_EFFECTIVE)]
)
def test_response_effect_on_calls_from_real_speech(stub, ravdess, calm_down, effect) -> None:
    call_id = f"outcome-{'calmed' if calm_down else 'angry'}"
    events = _stream(stub, _call(ravdess, calm_down=calm_down), call_id, agent="li", queue="care")
    stored = stub.GetCall(pb.GetCallRequest(call_id=call_id))
    anger = [a for a in stored.alerts if "ANGER_SUSTAINED" in a.reasons]
    assert anger, [a.reasons for a in stored.alerts]
    assert len(stored.outcomes) == len(stored.alerts)
    assert [o.alert_id for o in stored.outcomes] == [a.alert_id for a in stored.alerts]
    first = next(o for o in stored.outcomes if o.alert_id == anger[0].alert_id)
    assert first.effect == effect, first
    assert first.score_name == "anger" and first.score_before >= 0.6
    if calm_down:
        assert first.calmed and not first.relapsed and first.time_to_calm_s <= 60.0
        assert first.score_after < 0.3  # the customer ended the call calm
    else:
        assert not first.calmed and first.score_after >= 0.6 * first.score_before
    # the analysis table (console and CSV) carries the effect and its numbers
    rows = analysis.rows(stored.summary, stored.alerts, stored.outcomes)
    row = next(r for r in rows if r["alert_id"] == anger[0].alert_id)
    assert row["effect"] == ("effective" if calm_down else "not effective")
    assert row["score_before"].startswith("anger ") and row["score_after"].startswith("anger ")
    assert bool(row["time_to_calm_s"]) is calm_down
    assert events[-1].WhichOneof("event") == "ended"


def test_utterance_alerts_follow_the_judged_utterances_words_and_voice() -> None:
    """An alert of an utterance rule is judged on the fused scores of the speaker's judged utterances (each
    counting its own seconds of speech), not on the 3 s windows."""
    from service.judgement.results import UtteranceJudgement, VoiceEvidence

    def said(start_s: float, anger: float, speech_s: float = 2.0) -> UtteranceJudgement:
        voice = VoiceEvidence("utterance", anger, 0.0, 1 - anger, 0.0)
        return UtteranceJudgement(
            start_s, start_s + speech_s, speech_s, "x", "zh", anger, 0.0, 0.0, 0.0, 1 - anger, voice
        )

    alert = _anger_alert(start_s=10.0, t_s=12.0, score=0.85)
    angry_windows = [(0, estimate(t, 0.9)) for t in range(12, 40)]  # the windows would say "still angry"
    calmed = [(0, said(10.0, 0.85)), (0, said(20.0, 0.2)), (0, said(25.0, 0.1))]
    (o,) = judge_call([alert], angry_windows, _DEFAULT, call_active=False, judgements=calmed)
    assert o.effect is Effect.EFFECTIVE and o.score_after < 0.5 and o.time_to_calm_s is not None
    still = [(0, said(10.0, 0.85)), (0, said(20.0, 0.8)), (0, said(25.0, 0.9))]
    (o,) = judge_call([alert], [], _DEFAULT, call_active=False, judgements=still)
    assert o.effect is Effect.NOT_EFFECTIVE and o.score_after > 0.7
