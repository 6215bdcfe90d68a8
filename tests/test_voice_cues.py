"""Anxiety and confusion from the voice (issue 16): speaking faster than one's own pace (the rate rule, on the
transcript's syllable rate) and questions recognised by a rising voice at the end (features/intonation.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soxr
from callguard.v1 import callguard_pb2 as pb

from features.intonation import final_rise_st
from features.prosody import FEATURE_RATE_HZ
from features.telephone import degrade
from service.client import StreamOptions, requests_for
from service.domain import Role
from service.dynamics.live import CallDynamics
from service.escalation.detector import EscalationDetector
from service.escalation.policy import DEFAULT_POLICY_FILE, Level, PolicyError, load_policy, parse_policy
from service.simulate import build_call, normalise_peak, sequential_turns
from tests.calls import CALL_RATE, pick
from tests.speed import faster
from tests.test_escalation import Subscriber

POLICY = load_policy(DEFAULT_POLICY_FILE)


def _rise(clip) -> float:
    return final_rise_st(degrade(clip.load(16000), 16000, out_rate_hz=FEATURE_RATE_HZ))


# ---- final pitch rise --------------------------------------------------------------------------------------
def test_statements_fall_at_the_end_and_an_echo_question_rises(ravdess) -> None:
    """Real telephone-band speech: RAVDESS actor 18's calm and neutral statements ("Kids are talking by the
    door.") do not rise at the end (all under 1 st); she says the same sentences surprised as echo questions
    ("Kids are talking by the door?!"), rising 5-14 st. (Not every actor does: bench/voice_cues.py.)"""
    statements = [c for c in ravdess if c.speaker == "ravdess_18" and c.emotion in ("calm", "neutral")]
    rises = [_rise(c) for c in statements]
    assert len(rises) == 12 and all(r < 1.5 for r in rises), rises
    surprised = [_rise(c) for c in ravdess if c.speaker == "ravdess_18" and c.emotion == "surprise"]
    assert sum(r >= 4.0 for r in surprised) >= 7, surprised


def test_no_voice_no_rise() -> None:
    rng = np.random.default_rng(0)
    assert np.isnan(final_rise_st(np.zeros(FEATURE_RATE_HZ, np.float32)))
    assert np.isnan(final_rise_st((0.1 * rng.standard_normal(FEATURE_RATE_HZ)).astype(np.float32)))


def test_a_rising_voice_counts_as_a_question_in_english_only() -> None:
    lines = [(0.0, "It's the red one."), (15.0, "And then it stops."), (30.0, "The light goes off.")]

    def run(rise: float, language: str) -> list:
        d = EscalationDetector("c", POLICY)
        out = []
        for t, text in lines:
            out += d.on_transcript(0, Role.CUSTOMER, t, t + 2, text, final_rise_st=rise, language=language)
        return out

    (alert,) = run(5.2, "en")
    assert alert.reason == "CONFUSION_QUESTIONS" and alert.level is Level.LOW and not alert.page
    assert alert.evidence.startswith("3 questions in 32 s") and "voice rose 5.2 st at the end" in alert.evidence
    assert run(3.5, "en") == []  # under the 4 st line
    assert run(float("nan"), "en") == []  # not measured
    assert run(5.2, "zh") == []  # Mandarin: lexical tones move the last syllable; questions by their words
    off = parse_policy('[[question_rule]]\nreason = "Q"\nlevel = "LOW"\nrise_st = 0\n')
    d = EscalationDetector("c", off)
    assert not [
        a for t, x in lines for a in d.on_transcript(0, Role.CUSTOMER, t, t + 2, x, final_rise_st=9.0, language="en")
    ]


def test_the_rise_is_measured_only_where_a_rule_would_use_it() -> None:
    """The transcription worker measures an utterance's final rise only if a question rule counts rising
    voices in its language for its speaker: with the default policy English customers, not Mandarin nor the
    agent; with rise_st = 0, nothing."""
    d, customer = EscalationDetector("c", POLICY), Role.CUSTOMER
    assert d.wants_final_rise("en", customer) and d.wants_final_rise("en-US", customer)
    assert not d.wants_final_rise("zh", customer)
    assert not d.wants_final_rise("en", Role.AGENT)  # the default question rule watches customers
    off = parse_policy('[[question_rule]]\nreason = "Q"\nlevel = "LOW"\nrise_st = 0\n')
    assert not EscalationDetector("c", off).wants_final_rise("en", customer)
    zh = parse_policy('[[question_rule]]\nreason = "Q"\nlevel = "LOW"\nrise_languages = ["zh"]\n')
    assert EscalationDetector("c", zh).wants_final_rise("zh", customer)


# ---- frequent pauses (the example pause rule, off by default) ---------------------------------------------
PAUSES = parse_policy(
    '[[pause_rule]]\nreason = "CONFUSION_PAUSES"\nlevel = "LOW"\ncount = 4\nwindow_s = 60.0\naction = "Ask."\n'
)


def _talk(dynamics: CallDynamics, channel: int, spans: list[tuple[float, float]]) -> None:
    """Feed 0.1 s VAD windows: speech inside `spans`, silence between, up to the last span's end + 1 s."""
    end = spans[-1][1] + 1.0
    for k in range(int(end * 10)):
        t = k / 10
        dynamics.observe(channel, t, 0.1, any(a <= t < b for a, b in spans))
        dynamics.observe(1 - channel, t, 0.1, False)


def test_frequent_pauses_inside_a_turn_raise_confusion_when_the_policy_asks() -> None:
    """A customer stopping 1-2 s mid-turn again and again (the agent silent): 4 pauses in a minute raise the
    example rule's CONFUSION_PAUSES (LOW, unpaged) listing them; a turn change is not a pause; the default
    policy has no pause rule; the same pauses are not counted twice."""
    dynamics = CallDynamics((Role.CUSTOMER, Role.AGENT))
    spans = [(0.0, 2.0), (3.0, 5.0), (6.5, 8.0), (9.5, 11.0), (12.0, 14.0)]  # gaps of 1.0, 1.5, 1.5, 1.0 s
    _talk(dynamics, 0, spans)
    pauses = dynamics.pauses(0)
    assert [(round(a, 1), round(b, 1)) for a, b in pauses] == [(2.0, 3.0), (5.0, 6.5), (8.0, 9.5), (11.0, 12.0)]
    d = EscalationDetector("c", PAUSES)
    (alert,) = d.on_pauses(0, Role.CUSTOMER, pauses[:4])
    assert alert.reason == "CONFUSION_PAUSES" and alert.level is Level.LOW and not alert.page
    assert alert.evidence == "4 pauses inside their own turn in 10 s, the longest 1.5 s, at 0:02, 0:05, 0:08, 0:11"
    assert (alert.start_s, alert.t_s) == pytest.approx((2.0, 12.0), abs=0.05)
    assert d.on_pauses(0, Role.CUSTOMER, pauses) == []  # open, and no new pauses
    assert EscalationDetector("c", PAUSES).on_pauses(0, Role.CUSTOMER, pauses[:3]) == []  # 3 of 4
    assert EscalationDetector("c", PAUSES).on_pauses(1, Role.AGENT, pauses) == []  # customers only
    assert EscalationDetector("c", POLICY).on_pauses(0, Role.CUSTOMER, pauses) == []  # off by default
    spread = [(0.0, 1.0), (40.0, 41.0), (80.0, 81.0), (120.0, 121.0)]  # 4 pauses, but over two minutes
    assert EscalationDetector("c", PAUSES).on_pauses(0, Role.CUSTOMER, spread) == []
    # the agent answering in a gap makes it a turn change, not her pause
    turns = CallDynamics((Role.CUSTOMER, Role.AGENT))
    for k in range(150):
        t = k / 10
        turns.observe(0, t, 0.1, any(a <= t < b for a, b in spans))
        turns.observe(1, t, 0.1, 5.2 <= t < 6.3 or 8.2 <= t < 9.3)
    assert len(turns.pauses(0)) == 2
    assert CallDynamics((Role.CUSTOMER,)).pauses(0) == []  # mono: a pause and a turn change look alike


# ---- speaking faster than one's own pace -----------------------------------------------------------------------
def _paced(rates: list[float], texts: list[str] | None = None, policy=POLICY) -> list:
    d = EscalationDetector("c", policy)
    out = []
    for k, rate in enumerate(rates):
        text = texts[k] if texts else f"我想问一下订单{k}的情况"
        out += d.on_transcript(0, Role.CUSTOMER, 5.0 * k, 5.0 * k + 3, text, speech_rate_sps=rate)
    return out


def test_speaking_faster_than_ones_own_pace_raises_anxiety_without_paging() -> None:
    (alert,) = _paced([4.0, 4.2, 3.8, 4.0, 4.1, 5.4, 5.6])
    assert alert.reason == "ANXIETY_FAST_SPEECH" and alert.level is Level.MEDIUM and not alert.page
    assert (alert.start_s, alert.t_s) == (25.0, 33.0)  # the two fast sentences
    assert "5.5 syllables/s, 1.38x their own 4.0 at the start" in alert.evidence
    assert "订单5" in alert.excerpt and "订单6" in alert.excerpt


def test_pace_rule_needs_sentences_in_a_row_and_skips_short_ones() -> None:
    assert _paced([4.0, 4.2, 3.8, 4.0, 5.6, 4.1, 5.6, 4.0]) == []  # never two fast sentences in a row
    assert _paced([4.0, 4.2, 3.8, 4.0, 4.8, 4.8]) == []  # 1.2x: under the 1.25 line
    # "好的" and "yes" are too short to time: neither part of the baseline nor of a run
    short = ["好的", "yes", "对对对", "嗯"]
    texts = short + [f"我想问一下订单{k}的情况" for k in range(6)]
    assert _paced([9.0] * 4 + [4.0, 4.0, 4.0, 4.0, 5.4, 5.4], texts) != []
    assert _paced([4.0, 4.0, 4.0, 4.0, 5.4, 5.4], ["好的"] * 6) == []
    # untimed sentences (no word timings) are ignored
    assert _paced([4.0, 4.0, 4.0, 4.0, 0.0, float("nan"), 5.4]) == []


def test_pace_alert_is_raised_once_while_open() -> None:
    alerts = _paced([4.0] * 4 + [5.6] * 6)
    assert len(alerts) == 1


def test_bad_rate_rules_are_refused() -> None:
    with pytest.raises(PolicyError, match="ratio must be above 1"):
        parse_policy('[[rate_rule]]\nreason = "R"\nlevel = "MEDIUM"\nratio = 1.0\n')
    with pytest.raises(PolicyError, match="hold must be a whole number"):
        parse_policy('[[rate_rule]]\nreason = "R"\nlevel = "MEDIUM"\nhold = 1.5\n')
    with pytest.raises(PolicyError, match="rise_languages must be a list"):
        parse_policy('[[question_rule]]\nreason = "Q"\nlevel = "LOW"\nrise_languages = "en"\n')
    with pytest.raises(PolicyError, match=r"unknown sections \['pace_rule'\]"):
        parse_policy('[[pace_rule]]\nreason = "R"\n')
    with pytest.raises(PolicyError, match="pause_rule #1: count must be a whole number"):
        parse_policy('[[pause_rule]]\nreason = "P"\nlevel = "LOW"\ncount = 2.5\n')
    assert parse_policy('[[pause_rule]]\nreason = "P"\nlevel = "LOW"\n').pause_rules[0].page is False


# ---- end to end, on calls built from real speech ---------------------------------------------------------------
def _stream(stub, address, turns: list[tuple[int, np.ndarray, str]], call_id: str) -> tuple[list, Subscriber]:
    audio = build_call(sequential_turns(turns, sample_rate_hz=CALL_RATE, gap_s=0.8), sample_rate_hz=CALL_RATE)
    supervisor = Subscriber(address, call_id=call_id)
    try:
        options = StreamOptions(call_id=call_id, language="auto", realtime=True, speed=8.0)
        events = list(stub.StreamCall(requests_for(audio, options), timeout=600))
    finally:
        supervisor.close()
    return events, supervisor


def _turn(ch: int, clip, speed: float = 1.0) -> tuple[int, np.ndarray, str]:
    audio = faster(clip.load(16000), 16000, speed)  # same voice, pitch and words, said faster (PSOLA)
    return ch, normalise_peak(soxr.resample(audio, 16000, CALL_RATE).astype(np.float32)), clip.sentence


def test_a_customer_speeding_up_in_a_real_call_is_shown_as_anxious(stub, address, casia, ravdess) -> None:
    """CASIA speaker liuchanhg's neutral sentences, six at her own pace and then four played 1.8x faster (no
    corpus has a caller who speeds up; PSOLA keeps her voice, pitch and words), with an English agent
    answering: ANXIETY_FAST_SPEECH, MEDIUM, stored with the call, not paged; the transcript's rates show it."""
    said = [
        c
        for c in casia
        if c.speaker == "casia_liuchanhg" and c.emotion == "neutral" and len(c.sentence.strip("。 ")) >= 6
    ]
    agent = pick(ravdess, speaker="ravdess_07", emotion="calm", n=2)
    turns = [_turn(0, c) for c in said[:6]] + [_turn(1, agent[0])] + [_turn(0, c, 1.8) for c in said[6:10]]
    turns.append(_turn(1, agent[1]))
    events, supervisor = _stream(stub, address, turns, "cues-pace")
    starts = sequential_turns(turns, sample_rate_hz=CALL_RATE, gap_s=0.8)
    fast_from = starts[7].start_s
    stored = stub.GetCall(pb.GetCallRequest(call_id="cues-pace"))
    pace = [a for a in stored.alerts if a.reasons == ["ANXIETY_FAST_SPEECH"]]
    finals = [e.transcript.text for e in events if e.WhichOneof("event") == "transcript" and e.transcript.channel == 0]
    assert len(pace) == 1, (finals, [a.evidence for a in stored.alerts])
    assert pace[0].level == pb.MEDIUM and not pace[0].page and pace[0].role == pb.CUSTOMER
    assert pace[0].start_s >= fast_from - 0.5, (pace[0].start_s, fast_from, pace[0].evidence)
    assert "their own" in pace[0].evidence
    # did the response work: judged on her pace (as the rule measured it), not on anger
    (outcome,) = [o for o in stored.outcomes if o.alert_id == pace[0].alert_id]
    ratio = float(re.search(r"([\d.]+)x their own", pace[0].evidence).group(1))
    assert outcome.score_name == "pace" and outcome.score_before == pytest.approx(ratio, abs=0.01), outcome
    assert not [a for a in supervisor.for_call("cues-pace") if a.reasons == ["ANXIETY_FAST_SPEECH"]]
    rates = [
        (e.transcript.start_s, e.transcript.speech_rate_sps)
        for e in events
        if e.WhichOneof("event") == "transcript" and e.transcript.channel == 0 and e.transcript.speech_rate_sps > 0
    ]
    own = np.median([r for t, r in rates if t < fast_from - 0.5])
    fast = np.median([r for t, r in rates if t >= fast_from - 0.5])
    assert fast >= 1.3 * own, rates  # what the transcript events and the dynamics' rate curve carry
    assert stored.dynamics.speakers[0].speech_rate


def test_questions_heard_in_a_rising_voice_in_a_real_call(stub, address, ravdess) -> None:
    """RAVDESS actor 18 says "Kids are talking by the door" three times as a surprised echo question (her
    voice rises 5-14 st at the end) with an agent answering between: CONFUSION_QUESTIONS, LOW, not paged; each
    question it counts is one by its words (Whisper's "?") or by the voice it rose with."""
    asked = [c for c in ravdess if c.speaker == "ravdess_18" and c.emotion == "surprise"][:3]
    agent = pick(ravdess, speaker="ravdess_07", emotion="calm", n=2)
    turns = [_turn(0, asked[0]), _turn(1, agent[0]), _turn(0, asked[1]), _turn(1, agent[1]), _turn(0, asked[2])]
    _stream(stub, address, turns, "cues-rise")
    stored = stub.GetCall(pb.GetCallRequest(call_id="cues-rise"))
    (confused,) = [a for a in stored.alerts if a.reasons == ["CONFUSION_QUESTIONS"]]
    assert confused.level == pb.LOW and not confused.page
    questions = confused.excerpt.split(" / ")
    assert len(questions) == 3
    assert all(q.rstrip('"').endswith("?") or "voice rose" in q for q in questions), questions
