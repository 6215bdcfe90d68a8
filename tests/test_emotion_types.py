"""The handbook's five emotion types: anxiety / impatience and confusion / uncertainty beside anger and
disappointment, graded low / medium / high as the policy says, shown without paging unless it says so. Since
issue 23 anxiety and confusion come from the words model (read on exact transcripts here, end to end through
Whisper in the last test), not from word lists."""

from __future__ import annotations

import pytest
from callguard.v1 import callguard_pb2 as pb

from service.client import StreamOptions, requests_for
from service.domain import Role
from service.escalation.detector import EscalationDetector
from service.escalation.policy import DEFAULT_POLICY_FILE, Level, PolicyError, load_policy, parse_policy
from service.escalation.text import is_question
from service.judgement.fusion import fuse
from service.judgement.judge import UtteranceJudge
from service.judgement.results import UtteranceJudgement, VoiceEvidence
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
        "ANXIETY_WORDS": (Level.MEDIUM, False), "ANXIETY_FAST_SPEECH": (Level.MEDIUM, False),
        "CONFUSION_WORDS": (Level.LOW, False), "CONFUSION_QUESTIONS": (Level.LOW, False),
        "AGENT_ANGER": (Level.MEDIUM, False),
    }  # fmt: skip
    for reason, (level, page) in graded.items():
        rule = rules[reason]
        top = rule.levels[-1][1] if hasattr(rule, "levels") else rule.level
        assert (top, rule.page) == (level, page), reason
    assert {"ANXIETY_URGENCY", "CONFUSION_PHRASE"}.isdisjoint(rules)  # emotions come from the words model now


def _judged(judge: UtteranceJudge, lines: list[tuple[float, str, str]], role: Role = Role.CUSTOMER) -> list:
    """Each (start, text, language) judged with a calm voice, through the default policy."""
    detector, out = EscalationDetector("c", POLICY), []
    calm = VoiceEvidence("utterance", 0.1, 0.1, 0.8, 0.0)
    for t, text, language in lines:
        words = judge.words(text, language)
        f = fuse(calm, words, POLICY.fusion)
        j = UtteranceJudgement(t, t + 2.0, 2.0, text, language, f.anger, f.disappointment, f.anxiety, f.confusion,
                               f.neutral, calm, words)  # fmt: skip
        out += detector.on_judgement(0, role, j)
    return out


@pytest.fixture(scope="module")
def judge() -> UtteranceJudge:
    return UtteranceJudge.load()


def test_anxiety_comes_from_the_words_model_without_paging(judge: UtteranceJudge) -> None:
    (alert,) = [a for a in _judged(judge, [(5.0, "你们能不能快点，我赶时间", "zh")]) if a.reason == "ANXIETY_WORDS"]
    assert alert.level is Level.MEDIUM and not alert.page and alert.words_class == "anxiety"
    assert alert.words_phrase and alert.words_phrase in "你们能不能快点我赶时间"
    en = _judged(judge, [(5.0, "I'm really worried, I need this fixed right now, I can't wait any longer.", "en")])
    assert "ANXIETY_WORDS" in {a.reason for a in en}
    # a promise is not urgency: the word list raised ANXIETY_URGENCY on 马上 in "我马上拿来"
    assert _judged(judge, [(5.0, "我马上拿来", "zh")]) == []


def test_confusion_from_the_words_and_from_many_questions(judge: UtteranceJudge) -> None:
    (said,) = _judged(judge, [(3.0, "I don't understand what you mean, I'm confused.", "en")])
    assert said.reason == "CONFUSION_WORDS" and said.level is Level.LOW and not said.page
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


def test_a_calm_promise_in_a_real_mandarin_call_raises_nothing(stub, address, casia, ravdess) -> None:
    """CASIA's "我马上拿来" (I'll bring it right away) said calmly by the customer: the urgency word list raised
    ANXIETY_URGENCY on 马上; judged by the words model and the voice it raises nothing, and the judgement says so."""
    said = [c for c in casia if c.speaker == "casia_wangzhe" and c.emotion == "neutral"]
    promise = next(c for c in said if "马上" in c.sentence)
    agent = pick(ravdess, speaker="ravdess_18", emotion="calm", n=2)
    call = conversation([(0, said[0]), (1, agent[0]), (0, promise), (1, agent[1])], gap_s=0.6)
    board = Subscriber(address, call_id="types-promise", include_unpaged=True)
    try:
        options = StreamOptions(call_id="types-promise", language="auto", realtime=True, speed=8.0)
        events = list(stub.StreamCall(requests_for(call.audio, options), timeout=600))
    finally:
        board.close()
    judged = [e.utterance_emotion for e in events if e.WhichOneof("event") == "utterance_emotion"]
    heard = [u for u in judged if u.channel == 0 and "马上" in u.text]
    assert heard and heard[0].HasField("words"), [u.text for u in judged]
    assert heard[0].anxiety < 0.85 and heard[0].words.anxiety < 0.85, heard[0]
    stored = stub.GetCall(pb.GetCallRequest(call_id="types-promise")).alerts
    assert not [a for a in stored if a.role == pb.CUSTOMER], [(a.reasons, a.evidence) for a in stored]
    assert not board.for_call("types-promise")
