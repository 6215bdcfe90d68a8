"""Did the response work? For each alert, what the alerted speaker's emotion did afterwards: the handbook's
"effect" column (有效 / 部分有效 / 无效: effective / partly / not effective), with the numbers behind it.

The rule (defaults in the policy file's [response] table, documented there):
- The response starts when the alert was first raised: for a score rule, the start of its evidence plus the
  seconds of speech its first level needs; for a phrase rule, the end of the sentence that matched.
- The speaker has **calmed** at the first `calm_hold_s` seconds of their speech in a row (estimates; silence
  between them does not count) with the alert's score under the calm line: the score rule's own `exit` line
  (for phrase rules, `calm_line` on anger). `time_to_calm_s` is call time from the response start to the
  first of those estimates.
- It **relapsed** if, after calming, the score reached the relapse line again (the score rule's `enter`; for
  phrase rules `relapse_line` on anger), or an alert of the same reason was raised on that channel again.
- EFFECTIVE: calmed within `calm_within_s` of call time and no relapse. PARTLY: calmed later, or calmed and
  relapsed, or never calmed but the mean score over their last `tail_s` seconds of speech fell by at least
  `partly_drop` of the alert's score. NOT_EFFECTIVE: none of these. While the call is active and the speaker has
  not calmed, PENDING; if they never spoke again, NO_SPEECH.

Rate alerts (speaking faster than one's own pace, [[rate_rule]]) follow the pace instead of a score: each
timed transcript sentence's syllable rate over the speaker's own pace (the median of their first `baseline`
sentences, as the rule measured it). Calmed: `hold` sentences in a row under `calm_pace` times their own pace;
relapsed: `hold` in a row back at the rule's `ratio` after that, or the alert raised again. PARTLY when never
calmed: their last 3 sentences are under the rule's `ratio` and their excess over their own pace fell by
`partly_drop` of the alert's. NO_SPEECH also when nothing they said after it was long enough to time.

Question alerts (frequent questions, [[question_rule]]) follow whether the speaker stopped asking: their
sentences after it, questions by their words (escalation.text.is_question; a rising voice is not stored).
Calmed: `count` sentences in a row that are not questions (they moved on); relapsed: `count` questions within
`window_s` after that, or the alert raised again. PARTLY when never calmed: the share of questions in their
last 2 x `count` sentences fell by `partly_drop` of the share during the alert.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from features.syllables import count_syllables
from service.emotion import EmotionEstimate
from service.escalation.alerts import Alert
from service.escalation.policy import Policy, QuestionRule, RateRule, ResponseRule
from service.escalation.text import is_question
from service.judgement.results import UtteranceJudgement
from service.transcription.results import Segment


class Effect(enum.Enum):
    EFFECTIVE = "EFFECTIVE"  # 有效
    PARTLY = "PARTLY"  # 部分有效
    NOT_EFFECTIVE = "NOT_EFFECTIVE"  # 无效
    PENDING = "PENDING"  # the call goes on and the speaker has not calmed yet
    NO_SPEECH = "NO_SPEECH"  # the speaker did not speak after the alert (pace alerts: no sentence long enough to time)


@dataclass(frozen=True)
class Outcome:
    alert_id: str
    effect: Effect
    # the score followed: the alert's own, anger for phrase alerts; PACE for rate alerts (speech rate over the
    # speaker's own pace), QUESTIONS for question alerts (share of their sentences that asked)
    score_name: str
    score_before: float  # over the alert's evidence (phrase alerts: max anger around the sentence)
    score_after: float  # over the speaker's last `tail_s` seconds of speech (pace, questions: last sentences)
    response_start_s: float
    speech_after_s: float  # seconds of the speaker's speech after the response start
    time_to_calm_s: float | None = None
    relapsed_at_s: float | None = None


def _lines(alert: Alert, policy: Policy) -> tuple[str, float, float, float]:
    """(score, calm line, relapse line, seconds of speech to the first level) for the alert's rule."""
    rule = next((r for r in policy.score_rules if r.reason == alert.reason), None)
    if rule is not None and alert.score_name:
        return rule.score, rule.exit, rule.enter, rule.levels[0][0]
    return "anger", policy.response.calm_line, policy.response.relapse_line, 0.0


def judge(
    alert: Alert,
    estimates: Sequence[EmotionEstimate],
    policy: Policy,
    *,
    call_active: bool,
    later_alerts: Sequence[Alert] = (),
) -> Outcome:
    """The outcome of one alert. `estimates`: the alerted channel's, in call-time order; `later_alerts`: the
    call's other alerts (a new alert of the same reason on the channel after calming is a relapse)."""
    rule: ResponseRule = policy.response
    score, calm_line, relapse_line, first_s = _lines(alert, policy)
    value = lambda e: getattr(e, score)  # noqa: E731
    start = min(alert.t_s, alert.start_s + first_s) if alert.score_name else alert.t_s
    after = [e for e in estimates if e.end_s > start + 1e-6]
    if alert.score_name:
        before = alert.score
    else:
        around = [value(e) for e in estimates if alert.start_s - 1.0 <= e.end_s <= alert.end_s + 1.0]
        before = max(around, default=0.0)
    n_tail = max(1, math.ceil(rule.tail_s))
    after_mean = sum(value(e) for e in after[-n_tail:]) / len(after[-n_tail:]) if after else 0.0
    common = {
        "alert_id": alert.alert_id,
        "score_name": score,
        "score_before": round(before, 3),
        "score_after": round(after_mean, 3),
        "response_start_s": round(start, 2),
        "speech_after_s": float(len(after)),
    }
    if not after:
        return Outcome(effect=Effect.PENDING if call_active else Effect.NO_SPEECH, **common)
    need, run, calm_at, calmed_i = max(1, math.ceil(rule.calm_hold_s)), 0, None, None
    for i, e in enumerate(after):
        run = run + 1 if value(e) < calm_line else 0
        if run >= need:
            calm_at, calmed_i = after[i - need + 1].end_s, i
            break
    if calm_at is None:
        if call_active:
            return Outcome(effect=Effect.PENDING, **common)
        dropped = before > 0 and after_mean <= before * (1.0 - rule.partly_drop)
        return Outcome(effect=Effect.PARTLY if dropped else Effect.NOT_EFFECTIVE, **common)
    relapse = next((e.end_s for e in after[calmed_i + 1 :] if value(e) >= relapse_line), None)
    return _calmed(alert, rule, start, calm_at, relapse, later_alerts, common)


PACE = "pace"  # Outcome.score_name of rate alerts: speech rate over the speaker's own pace
_PACE_TAIL = 3  # sentences: the "after" pace is the median of the speaker's last ones


def judge_pace(
    alert: Alert,
    rule: RateRule,
    segments: Sequence[Segment],
    policy: Policy,
    *,
    call_active: bool,
    later_alerts: Sequence[Alert] = (),
) -> Outcome:
    """The outcome of a rate alert from the alerted channel's transcript `segments` (call-time order): the
    speaker's pace after it against their own, as the rule measured both (module docstring)."""
    response = policy.response
    timed = [
        (s.start_s, s.end_s, rate)
        for s in segments
        if (rate := s.speech_rate_sps) > 0 and count_syllables(s.text) >= rule.min_syllables
    ]
    own = float(np.median([r for _, _, r in timed[: rule.baseline]])) if timed else 0.0
    pace = [(a, b, r / own) for a, b, r in timed] if own > 0 else []
    during = [p for a, b, p in pace if alert.start_s - 1e-6 <= a and b <= alert.end_s + 1e-6]
    before = float(np.median(during)) if during else rule.ratio
    after = [(a, b, p) for a, b, p in pace if a >= alert.t_s - 1e-6]
    after_pace = float(np.median([p for _, _, p in after[-_PACE_TAIL:]])) if after else 0.0
    common = {
        "alert_id": alert.alert_id,
        "score_name": PACE,
        "score_before": round(before, 3),
        "score_after": round(after_pace, 3),
        "response_start_s": round(alert.t_s, 2),
        "speech_after_s": round(sum(s.end_s - s.start_s for s in segments if s.start_s >= alert.t_s - 1e-6), 2),
    }
    if not after:  # silent, or only replies too short to time ("好的", "嗯"): the pace was not measured
        return Outcome(effect=Effect.PENDING if call_active else Effect.NO_SPEECH, **common)
    calmed_i = _first_run(after, lambda p: p < response.calm_pace, rule.hold)
    if calmed_i is None:
        if call_active:
            return Outcome(effect=Effect.PENDING, **common)
        dropped = after_pace < rule.ratio and after_pace - 1.0 <= (before - 1.0) * (1.0 - response.partly_drop)
        return Outcome(effect=Effect.PARTLY if dropped else Effect.NOT_EFFECTIVE, **common)
    calm_at = after[calmed_i][1]
    rest = after[calmed_i + rule.hold :]
    fast_again = _first_run(rest, lambda p: p >= rule.ratio, rule.hold)
    relapse = rest[fast_again + rule.hold - 1][1] if fast_again is not None else None
    return _calmed(alert, response, alert.t_s, calm_at, relapse, later_alerts, common)


QUESTIONS = "questions"  # Outcome.score_name of question alerts: share of the speaker's sentences asked


def judge_questions(
    alert: Alert,
    rule: QuestionRule,
    segments: Sequence[Segment],
    policy: Policy,
    *,
    call_active: bool,
    later_alerts: Sequence[Alert] = (),
) -> Outcome:
    """The outcome of a frequent-questions alert from the alerted channel's transcript `segments` (call-time
    order): did the speaker stop asking (module docstring)?"""
    response = policy.response
    said = [(s.start_s, s.end_s, 1.0 if is_question(s.text) else 0.0) for s in segments]
    during = [q for a, b, q in said if alert.start_s - 1e-6 <= a and b <= alert.end_s + 1e-6]
    before = min(1.0, rule.count / len(during)) if during else 1.0  # its span holds its `count` questions
    after = [x for x in said if x[0] >= alert.t_s - 1e-6]
    tail = [q for _, _, q in after[-2 * rule.count :]]
    share = sum(tail) / len(tail) if tail else 0.0
    common = {
        "alert_id": alert.alert_id,
        "score_name": QUESTIONS,
        "score_before": round(before, 3),
        "score_after": round(share, 3),
        "response_start_s": round(alert.t_s, 2),
        "speech_after_s": round(sum(b - a for a, b, _ in after), 2),
    }
    if not after:
        return Outcome(effect=Effect.PENDING if call_active else Effect.NO_SPEECH, **common)
    calmed_i = _first_run(after, lambda q: q == 0.0, rule.count)
    if calmed_i is None:
        if call_active:
            return Outcome(effect=Effect.PENDING, **common)
        dropped = share <= before * (1.0 - response.partly_drop)
        return Outcome(effect=Effect.PARTLY if dropped else Effect.NOT_EFFECTIVE, **common)
    calm_at = after[calmed_i][1]
    asked = [b for _, b, q in after[calmed_i + rule.count :] if q]
    relapse = next(
        (asked[i] for i in range(rule.count - 1, len(asked)) if asked[i] - asked[i - rule.count + 1] <= rule.window_s),
        None,
    )
    return _calmed(alert, response, alert.t_s, calm_at, relapse, later_alerts, common)


def _calmed(
    alert: Alert,
    response: ResponseRule,
    start_s: float,
    calm_at: float,
    relapse: float | None,
    later_alerts: Sequence[Alert],
    common: dict,
) -> Outcome:
    """The verdict once the speaker calmed at `calm_at` (call time; the response started at `start_s`): it
    relapsed at `relapse` (their own measure back at its line, or None) or when the alert's reason was raised
    again on the channel after calming. EFFECTIVE when calm within `calm_within_s` and no relapse, else PARTLY."""
    again = [a.start_s for a in later_alerts if _same(a, alert) and a.start_s > calm_at]
    relapsed = min([t for t in (relapse, *again) if t is not None], default=None)
    to_calm = round(calm_at - start_s, 2)
    effective = to_calm <= response.calm_within_s and relapsed is None
    return Outcome(
        effect=Effect.EFFECTIVE if effective else Effect.PARTLY,
        time_to_calm_s=to_calm,
        relapsed_at_s=round(relapsed, 2) if relapsed is not None else None,
        **common,
    )


def _first_run(pace: Sequence[tuple[float, float, float]], ok: Callable[[float], bool], n: int) -> int | None:
    """Index of the first of `n` entries in a row whose pace passes `ok`, or None."""
    run = 0
    for i, (_, _, p) in enumerate(pace):
        run = run + 1 if ok(p) else 0
        if run >= n:
            return i - n + 1
    return None


def _same(a: Alert, alert: Alert) -> bool:
    """`a` is another alert of `alert`'s reason on its channel (raised again: a relapse if after calming)."""
    return a.alert_id != alert.alert_id and a.reason == alert.reason and a.channel == alert.channel


class JudgedSecond:
    """One second of a judged utterance's speech, read like a window estimate (`anger`, `end_s`...): an
    utterance of n seconds counts as n of them, so "seconds of speech" mean the same for both timelines."""

    def __init__(self, judgement: UtteranceJudgement, end_s: float) -> None:
        self._j, self.end_s = judgement, end_s

    def __getattr__(self, name: str) -> float:
        return self._j.score(name)


def judged_seconds(judgements: Sequence[UtteranceJudgement]) -> list[JudgedSecond]:
    out = []
    for j in judgements:
        n = max(1, round(j.speech_s))
        out += [JudgedSecond(j, j.start_s + (k + 1) * (j.end_s - j.start_s) / n) for k in range(n)]
    return out


def judge_call(
    alerts: Sequence[Alert],
    estimates: Sequence[tuple[int, EmotionEstimate]],
    policy: Policy,
    *,
    call_active: bool,
    segments: Sequence[tuple[int, Segment]] = (),
    judgements: Sequence[tuple[int, UtteranceJudgement]] = (),
) -> list[Outcome]:
    """Every alert of a call, against that call's stored (channel, estimate) timeline and, for rate and
    question alerts, its (channel, transcript segment) list. Alerts of utterance rules, and phrase alerts on a
    channel with judged utterances, follow the judgements' fused scores (words and voice); window rules
    follow the window estimates."""
    by_channel: dict[int, list[EmotionEstimate]] = {}
    for channel, e in estimates:
        by_channel.setdefault(channel, []).append(e)
    judged: dict[int, list[UtteranceJudgement]] = {}
    for channel, j in judgements:
        judged.setdefault(channel, []).append(j)
    # reasons only window rules raise follow the windows; a reason an utterance rule raises too (the default
    # ANGER_SUSTAINED) follows the judged utterances where the channel has them
    window_rules = {r.reason for r in policy.score_rules if r.source == "window"} - {
        r.reason for r in policy.score_rules if r.source == "utterance"
    }
    said: dict[int, list[Segment]] = {}
    for channel, seg in sorted(segments, key=lambda cs: cs[1].start_s):
        said.setdefault(channel, []).append(seg)
    rates = {r.reason: r for r in policy.rate_rules}
    questions = {r.reason: r for r in policy.question_rules}

    def one(a: Alert) -> Outcome:
        kw = {"call_active": call_active, "later_alerts": alerts}
        if a.reason in rates:
            return judge_pace(a, rates[a.reason], said.get(a.channel, []), policy, **kw)
        if a.reason in questions:
            return judge_questions(a, questions[a.reason], said.get(a.channel, []), policy, **kw)
        if a.reason not in window_rules and judged.get(a.channel):
            return judge(a, judged_seconds(judged[a.channel]), policy, **kw)  # type: ignore[arg-type]
        return judge(a, by_channel.get(a.channel, []), policy, **kw)

    return [one(a) for a in alerts]
