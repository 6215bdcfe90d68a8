"""The handbook's five emotion types (issue 16): anxiety / impatience and confusion / uncertainty beside anger
and disappointment, graded low / medium / high as the policy says, shown without paging unless it says so."""

from __future__ import annotations

import pytest
from callguard.v1 import callguard_pb2 as pb

from service.client import StreamOptions, requests_for
from service.domain import Role
from service.escalation.detector import EscalationDetector
from service.escalation.policy import DEFAULT_POLICY_FILE, Level, PolicyError, load_policy, parse_policy
from service.escalation.text import is_question
from tests.calls import conversation, pick
from tests.test_escalation import Subscriber

POLICY = load_policy(DEFAULT_POLICY_FILE)


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("这个怎么用？", True), ("你们什么时候发货", True), ("是不是坏了", True), ("可以退吗", True),
        ("What do you mean", True), ("Can you check my order", True), ("is it shipped?", True),
        ("我要退货。", False), ("Kids are talking by the door.", False), ("Whatever, fine.", False), ("", False),
    ],
)  # fmt: skip
def test_is_question(text: str, question: bool) -> None:
    assert is_question(text) is question


def _said(detector: EscalationDetector, lines: list[tuple[float, str]], role: Role = Role.CUSTOMER) -> list:
    out = []
    for t, text in lines:
        out += detector.on_transcript(0, role, t, t + 2.0, text)
    return out


def test_default_policy_grades_the_five_types_and_pages_only_high_risk() -> None:
    rules = {
        r.reason: r for r in (*POLICY.score_rules, *POLICY.phrase_rules, *POLICY.question_rules, *POLICY.rate_rules)
    }
    graded = {
        "ANGER_SUSTAINED": (Level.HIGH, True), "THREAT_PHRASE": (Level.HIGH, True),
        "DISAPPOINTMENT_SUSTAINED": (Level.MEDIUM, False), "REPEAT_CONTACT": (Level.MEDIUM, False),
        "ANXIETY_URGENCY": (Level.MEDIUM, False), "ANXIETY_FAST_SPEECH": (Level.MEDIUM, False),
        "CONFUSION_PHRASE": (Level.LOW, False), "CONFUSION_QUESTIONS": (Level.LOW, False),
        "AGENT_ANGER": (Level.MEDIUM, False),
    }  # fmt: skip
    for reason, (level, page) in graded.items():
        rule = rules[reason]
        top = rule.levels[-1][1] if hasattr(rule, "levels") else rule.level
        assert (top, rule.page) == (level, page), reason


def test_urgency_words_raise_anxiety_without_paging() -> None:
    d = EscalationDetector("c", POLICY)
    (alert,) = _said(d, [(5.0, "你们能不能快点，我赶时间")])
    assert alert.reason == "ANXIETY_URGENCY" and alert.level is Level.MEDIUM and not alert.page
    assert alert.matched_phrase == "快点" and "快点" in alert.evidence
    (en,) = _said(EscalationDetector("c", POLICY), [(5.0, "I need this fixed right now.")])
    assert en.reason == "ANXIETY_URGENCY"


def test_confusion_from_a_phrase_and_from_many_questions() -> None:
    (phrase,) = _said(EscalationDetector("c", POLICY), [(3.0, "你说的是什么意思")])
    assert {phrase.reason} == {"CONFUSION_PHRASE"} and phrase.level is Level.LOW and not phrase.page
    d = EscalationDetector("c", POLICY)
    got = _said(d, [(10.0, "这个在哪里设置？"), (25.0, "然后呢"), (40.0, "Is the light supposed to be red?")])
    (questions,) = [a for a in got if a.reason == "CONFUSION_QUESTIONS"]
    assert questions.level is Level.LOW and questions.start_s == 10.0 and questions.t_s == 42.0
    assert questions.evidence.startswith("3 questions in 32 s") and "然后呢" in questions.evidence
    # spread out over more than the minute, or asked by the agent: not frequent questions from the customer
    slow = EscalationDetector("c", POLICY)
    assert not _said(slow, [(0.0, "这个在哪里设置？"), (40.0, "然后呢"), (90.0, "Is it red?")])
    agent = EscalationDetector("c", POLICY)
    assert not _said(agent, [(1.0, "还有什么问题吗"), (5.0, "是不是这样"), (9.0, "对吗")], role=Role.AGENT)


def test_bad_question_rules_are_refused() -> None:
    with pytest.raises(PolicyError, match="count must be a whole number"):
        parse_policy('[[question_rule]]\nreason = "Q"\nlevel = "LOW"\ncount = 2.5\n')
    with pytest.raises(PolicyError, match="page must be true or false"):
        parse_policy('[[question_rule]]\nreason = "Q"\nlevel = "LOW"\npage = "no"\n')


def test_urgency_heard_in_a_real_mandarin_call_is_shown_not_paged(stub, address, casia, ravdess) -> None:
    """CASIA's "我马上拿来" (I'll bring it right away) said by the customer: Whisper's transcript carries 马上,
    ANXIETY_URGENCY is raised and stored with the call, and a supervisor's default subscription gets nothing."""
    said = [c for c in casia if c.speaker == "casia_wangzhe" and c.emotion == "neutral"]
    urgent = next(c for c in said if "马上" in c.sentence)
    agent = pick(ravdess, speaker="ravdess_18", emotion="calm", n=2)
    call = conversation([(0, said[0]), (1, agent[0]), (0, urgent), (1, agent[1])], gap_s=0.6)
    supervisor, board = Subscriber(address, call_id="types-urgent"), Subscriber(address, include_unpaged=True)
    try:
        options = StreamOptions(call_id="types-urgent", language="auto", realtime=True, speed=8.0)
        events = list(stub.StreamCall(requests_for(call.audio, options), timeout=600))
    finally:
        supervisor.close()
        board.close()
    said_text = [e.transcript.text for e in events if e.WhichOneof("event") == "transcript"]
    assert any("马上" in t for t in said_text), said_text
    stored = stub.GetCall(pb.GetCallRequest(call_id="types-urgent")).alerts
    urgency = [a for a in stored if a.reasons == ["ANXIETY_URGENCY"]]
    assert len(urgency) == 1 and urgency[0].level == pb.MEDIUM and not urgency[0].page
    assert urgency[0].matched_phrase == "马上" and urgency[0].role == pb.CUSTOMER
    assert not supervisor.for_call("types-urgent")
    assert [a.alert_id for a in board.for_call("types-urgent")] == [urgency[0].alert_id]
