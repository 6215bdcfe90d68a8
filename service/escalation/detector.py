"""Per-call escalation decisions: emotion scores over time (hysteresis, sustain, cooldown) and phrases in
the final transcript. Pure logic, fed by the call's analysis and transcription; it returns the alerts that
are new or changed, and the caller stores and publishes them."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from features.syllables import count_syllables
from service.domain import Role
from service.emotion import EmotionEstimate
from service.escalation.alerts import Alert
from service.escalation.evidence import judged_evidence
from service.escalation.policy import PhraseRule, Policy, PolicySource, RateRule, ScoreRule
from service.escalation.text import contains_phrase, is_question, normalise
from service.judgement.results import UtteranceJudgement


@dataclass
class _Run:
    """A stretch of one speaker's estimates (or judged utterances) with the score above the rule's line."""

    start_s: float
    last_end_s: float
    speech_s: float = 0.0
    scores: list[float] = field(default_factory=list)
    pitch: list[float] = field(default_factory=list)
    loudness: list[float] = field(default_factory=list)
    judged: list[UtteranceJudgement] = field(default_factory=list)


@dataclass(frozen=True)
class _Point:
    """One step of a score rule: a window estimate (one hop of speech) or a judged utterance."""

    start_s: float
    end_s: float
    score: float
    pitch: float
    loudness: float
    speech_s: float | None = None  # None: a window estimate (speech counted by hop)
    judgement: UtteranceJudgement | None = None


@dataclass
class _Pace:
    """One speaker's pace for a rate rule: the rates of their first sentences (their own pace), the latest ones."""

    first: list[float] = field(default_factory=list)
    recent: list[tuple[float, float, float, str]] = field(default_factory=list)  # start_s, end_s, rate, text
    last_alert_t_s: float = -1e9


@dataclass
class _RuleState:
    run: _Run | None = None
    last_alert_t_s: float = -1e9  # call time of the last alert raised or upgraded by this rule


class EscalationDetector:
    """One per call. Thread-safe: analysis (emotion) and transcription workers (phrases) both feed it."""

    def __init__(
        self, call_id: str, policy: PolicySource | Policy, *, hop_s: float = 1.0, queue: str = "", agent: str = ""
    ) -> None:
        self._call_id = call_id
        self._policy = policy
        self._hop_s = hop_s
        self._queue, self._agent = queue, agent
        self._states: dict[tuple[str, int], _RuleState] = {}
        self._open: dict[tuple[str, int], Alert] = {}
        self._asked: dict[tuple[str, int], list[tuple[float, float, str]]] = {}  # questions per rule, channel
        self._pace: dict[tuple[str, int], _Pace] = {}
        self._paused: dict[tuple[str, int], float] = {}  # pause rule, channel: end of the last pause alerted on
        self._lock = threading.Lock()

    def policy(self) -> Policy:
        return self._policy.current() if isinstance(self._policy, PolicySource) else self._policy

    # ---- scores ------------------------------------------------------------------------------------
    def on_emotion(self, channel: int, role: Role, e: EmotionEstimate) -> list[Alert]:
        """A 3 s window estimate: the score rules with source "window"."""
        out = []
        with self._lock:
            for rule in self.policy().score_rules:
                if role in rule.roles and rule.source == "window":
                    score = e.anger if rule.score == "anger" else e.disappointment
                    point = _Point(e.start_s, e.end_s, score, e.pitch_st_vs_baseline, e.loudness_db_vs_baseline)
                    if (alert := self._score(rule, channel, role, point)) is not None:
                        out.append(alert)
        return out

    def on_judgement(self, channel: int, role: Role, j: UtteranceJudgement) -> list[Alert]:
        """A judged utterance (words and voice): the score rules with source "utterance"."""
        out = []
        with self._lock:
            for rule in self.policy().score_rules:
                if role not in rule.roles or rule.source != "utterance":
                    continue
                score = j.score(rule.score)
                if math.isnan(score):
                    continue  # that source said nothing about this utterance (no words): neither raise nor end a run
                point = _Point(j.start_s, j.end_s, score, j.voice.pitch_st_vs_baseline,
                               j.voice.loudness_db_vs_baseline, j.speech_s, j)  # fmt: skip
                if (alert := self._score(rule, channel, role, point)) is not None:
                    out.append(alert)
        return out

    def _score(self, rule: ScoreRule, channel: int, role: Role, e: _Point) -> Alert | None:
        # a run per rule (two rules may raise one reason: the windows and the utterances); one open alert per reason
        state = self._states.setdefault((rule.reason, rule.source, channel), _RuleState())
        score = e.score
        run = state.run
        if run is not None and (score < rule.exit or e.start_s - run.last_end_s > rule.max_gap_s):
            run = state.run = None  # the score fell below the exit line, or the speaker was silent too long
        if run is None:
            if score < rule.enter:
                return None
            first_end = e.end_s - self._hop_s if e.speech_s is None else e.start_s
            run = state.run = _Run(start_s=e.start_s, last_end_s=first_end)
        if e.speech_s is None:
            run.speech_s += min(max(e.end_s - run.last_end_s, 0.0), self._hop_s)
        else:
            run.speech_s += e.speech_s
            run.judged.append(e.judgement)  # type: ignore[arg-type]
        run.last_end_s = e.end_s
        run.scores.append(score)
        run.pitch.append(e.pitch)
        run.loudness.append(e.loudness)
        reached = [level for seconds, level in rule.levels if run.speech_s >= seconds - 1e-6]
        if not reached:
            return None
        level = reached[-1]
        alert = self._open.get((rule.reason, channel))
        if alert is not None and alert.is_open:
            if level <= alert.level:
                return None
        elif e.end_s - state.last_alert_t_s < rule.cooldown_s:
            return None
        state.last_alert_t_s = e.end_s
        pitch, loud = _median(run.pitch), _median(run.loudness)
        mean, peak = float(np.mean(run.scores)), float(np.max(run.scores))
        fields = dict(
            level=level,
            t_s=e.end_s,
            start_s=run.start_s,
            end_s=e.end_s,
            score_name=rule.score,
            score=mean,
            peak=peak,
            duration_s=run.speech_s,
            pitch_st_vs_baseline=0.0 if math.isnan(pitch) else pitch,
            loudness_db_vs_baseline=0.0 if math.isnan(loud) else loud,
            page=rule.page,
        )
        if run.judged:
            fields |= judged_evidence(rule.score, mean, peak, run.speech_s, run.judged, pitch, loud)
        else:
            fields["evidence"] = (
                f"{rule.score} {mean:.2f} (peak {peak:.2f}) for {run.speech_s:.0f} s of speech, "
                f"pitch {pitch:+.1f} st, loudness {loud:+.1f} dB vs. baseline"
            )
        return self._raise_or_upgrade(rule.reason, channel, role, rule.action, fields)

    # ---- phrases -----------------------------------------------------------------------------------
    def on_transcript(
        self,
        channel: int,
        role: Role,
        start_s: float,
        end_s: float,
        text: str,
        *,
        final_rise_st: float = float("nan"),
        language: str = "",
        speech_rate_sps: float = 0.0,
    ) -> list[Alert]:
        """A final transcript segment. `final_rise_st`: how far the voice rose at its end (semitones,
        features.intonation; NaN when not measured), `language`: the language Whisper decoded it in,
        `speech_rate_sps`: syllables per second from its word timings (features.syllables; 0 if unknown)."""
        norm = normalise(text)
        if not norm:
            return []
        out = []
        with self._lock:
            for rule in self.policy().phrase_rules:
                matched = _match(rule, norm) if role in rule.roles else None
                if matched is not None:
                    fields = dict(
                        level=rule.level,
                        t_s=end_s,
                        start_s=start_s,
                        end_s=end_s,
                        evidence=f'said "{text.strip()}" (matched "{matched}")',
                        excerpt=text.strip(),
                        matched_phrase=matched,
                        page=rule.page,
                    )
                    current = self._open.get((rule.reason, channel))
                    if current is not None and current.is_open and rule.level <= current.level:
                        continue  # already open at this level: no spam
                    out.append(self._raise_or_upgrade(rule.reason, channel, role, rule.action, fields))
            out += self._questions(channel, role, start_s, end_s, text, final_rise_st, language)
            for rate_rule in self.policy().rate_rules:
                if role in rate_rule.roles and (
                    alert := self._rate(rate_rule, channel, role, start_s, end_s, text, speech_rate_sps)
                ):
                    out.append(alert)
        return out

    def _rate(
        self, rule: RateRule, channel: int, role: Role, start_s: float, end_s: float, text: str, rate: float
    ) -> Alert | None:
        """Faster speech than the speaker's own pace: `rule.hold` sentences in a row at `rule.ratio` times the
        median rate of their first `rule.baseline` sentences (sentences under `rule.min_syllables` skipped)."""
        if not (np.isfinite(rate) and rate > 0) or count_syllables(text) < rule.min_syllables:
            return None
        pace = self._pace.setdefault((rule.reason, channel), _Pace())
        if len(pace.first) < rule.baseline:
            pace.first.append(rate)
            return None
        base = float(np.median(pace.first))
        pace.recent = [*pace.recent, (start_s, end_s, rate, text.strip())][-rule.hold :]
        rates = [r for _, _, r, _ in pace.recent]
        if len(rates) < rule.hold or min(rates) < rule.ratio * base:
            return None
        current = self._open.get((rule.reason, channel))
        if (current is not None and current.is_open) or end_s - pace.last_alert_t_s < rule.cooldown_s:
            return None
        pace.last_alert_t_s = end_s
        median = float(np.median(rates))
        said = " / ".join(f'"{t}"' for _, _, _, t in pace.recent)
        fields = dict(
            level=rule.level,
            t_s=end_s,
            start_s=pace.recent[0][0],
            end_s=end_s,
            evidence=(
                f"speaking {median:.1f} syllables/s, {median / base:.2f}x their own {base:.1f} at the start, "
                f"{rule.hold} sentences in a row: {said}"
            ),
            excerpt=said,
            page=rule.page,
        )
        return self._raise_or_upgrade(rule.reason, channel, role, rule.action, fields)

    # ---- pauses --------------------------------------------------------------------------------------
    def on_pauses(self, channel: int, role: Role, pauses: list[tuple[float, float]]) -> list[Alert]:
        """The channel's pauses inside its own turns so far ((start_s, end_s), CallDynamics.pauses): each pause
        rule raises on `count` of them within `window_s`, counting only pauses after its last alert."""
        out = []
        with self._lock:
            for rule in self.policy().pause_rules:
                since = self._paused.get((rule.reason, channel), -1.0)
                new = [p for p in pauses if p[1] > since]
                if role not in rule.roles or not new:
                    continue
                recent = [p for p in new if p[1] >= new[-1][1] - rule.window_s]
                current = self._open.get((rule.reason, channel))
                if len(recent) < rule.count or (current is not None and current.is_open):
                    continue
                self._paused[(rule.reason, channel)] = recent[-1][1]
                span = recent[-1][1] - recent[0][0]
                fields = dict(
                    level=rule.level,
                    t_s=recent[-1][1],
                    start_s=recent[0][0],
                    end_s=recent[-1][1],
                    evidence=(
                        f"{len(recent)} pauses inside their own turn in {span:.0f} s, the longest "
                        f"{max(b - a for a, b in recent):.1f} s, at " + ", ".join(_clock(a) for a, _ in recent)
                    ),
                    page=rule.page,
                )
                out.append(self._raise_or_upgrade(rule.reason, channel, role, rule.action, fields))
        return out

    def wants_final_rise(self, language: str, role: Role) -> bool:
        """Whether a question rule counts a rising voice in `language` (a Whisper code such as "en") for
        `role`, so the final pitch rise of that speaker's utterance is worth measuring (about 10 ms CPU per
        utterance, bench/dynamics.py)."""
        lang = language.split("-")[0]
        return any(r.rise_st > 0 and lang in r.rise_languages and role in r.roles for r in self.policy().question_rules)

    def _questions(
        self, channel: int, role: Role, start_s: float, end_s: float, text: str, rise_st: float, language: str
    ) -> list[Alert]:
        """Frequent questions: each question rule counts the channel's questions in its window, recognised by
        their words or, in the rule's `rise_languages`, by the voice rising at least `rise_st` at the end."""
        out = []
        by_words = is_question(text)
        for rule in self.policy().question_rules:
            by_voice = (
                rule.rise_st > 0 and language.split("-")[0] in rule.rise_languages and rise_st >= rule.rise_st
            )  # NaN (not measured) compares false
            if role not in rule.roles or not (by_words or by_voice):
                continue
            asked = self._asked.setdefault((rule.reason, channel), [])
            said = text.strip() if by_words else f"{text.strip()} (voice rose {rise_st:.1f} st at the end)"
            asked.append((start_s, end_s, said))
            asked[:] = [q for q in asked if q[1] >= end_s - rule.window_s]
            current = self._open.get((rule.reason, channel))
            if len(asked) < rule.count or (current is not None and current.is_open):
                continue
            said = " / ".join(f'"{q[2]}"' for q in asked[-rule.count :])
            fields = dict(
                level=rule.level,
                t_s=end_s,
                start_s=asked[-rule.count][0],
                end_s=end_s,
                evidence=f"{len(asked)} questions in {end_s - asked[0][0]:.0f} s: {said}",
                excerpt=said,
                page=rule.page,
            )
            out.append(self._raise_or_upgrade(rule.reason, channel, role, rule.action, fields))
        return out

    # ---- shared ------------------------------------------------------------------------------------
    def _raise_or_upgrade(self, reason: str, channel: int, role: Role, action: str, fields: dict) -> Alert:
        now = time.time()
        alert = self._open.get((reason, channel))
        if alert is not None and alert.is_open:
            for key, value in fields.items():
                setattr(alert, key, value)
            alert.start_s = min(alert.start_s, fields["start_s"])
            alert.updated_at = now
            alert.version += 1
            return alert
        alert = Alert(
            call_id=self._call_id,
            channel=channel,
            role=role,
            reason=reason,
            action=action,
            queue=self._queue,
            agent=self._agent,
            raised_at=now,
            updated_at=now,
            **fields,
        )
        self._open[reason, channel] = alert
        return alert


def _match(rule: PhraseRule, norm: str) -> str | None:
    """The (normalised) phrase or pattern match the rule found in the text, if any."""
    for phrase in rule.phrases:
        if contains_phrase(norm, phrase):
            return phrase
    for pattern in rule.patterns:
        if found := pattern.search(norm):
            return found.group(0)
    return None


def _median(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.median(finite)) if finite else math.nan


def _clock(t_s: float) -> str:
    return f"{int(t_s // 60)}:{int(t_s % 60):02d}"
