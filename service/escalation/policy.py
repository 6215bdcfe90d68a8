"""The escalation policy: which scores and phrases raise which alert level, read from a TOML file.

The file format is documented in default_policy.toml. `PolicySource` re-reads the file when it changes, so
operators edit it without a restart; a broken edit is logged and the last good policy stays in force.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import tomllib
from pathlib import Path

from service.domain import Role
from service.escalation.rules import (
    SOURCES,
    UTTERANCE_SCORES,
    WINDOW_SCORES,
    CoachingRule,
    Level,
    PauseRule,
    PhraseRule,
    Policy,
    QuestionRule,
    RateRule,
    ResponseRule,
    ScoreRule,
)
from service.escalation.text import normalise
from service.judgement.fusion import FusionOptions

__all__ = [
    "DEFAULT_POLICY_FILE", "CoachingRule", "Level", "PauseRule", "PhraseRule", "Policy", "PolicyError",
    "PolicySource", "QuestionRule", "RateRule", "ResponseRule", "ScoreRule", "load_policy", "parse_policy",
]  # fmt: skip

log = logging.getLogger(__name__)

DEFAULT_POLICY_FILE = Path(__file__).with_name("default_policy.toml")


class PolicyError(ValueError):
    """The policy file is invalid; the message says where."""


def _level(value: object, where: str) -> Level:
    try:
        return Level[str(value).upper()]
    except KeyError:
        raise PolicyError(f"{where}: level {value!r} is not one of LOW, MEDIUM, HIGH") from None


def _roles(value: object, where: str) -> frozenset[Role]:
    names = value if isinstance(value, list) else ["customer"]
    try:
        return frozenset(Role[str(n).upper()] for n in names)
    except KeyError:
        raise PolicyError(f"{where}: roles must be a list of 'customer' / 'agent', got {value!r}") from None


def _number(rule: dict, key: str, where: str, *, default: float | None = None, lo: float = 0.0) -> float:
    value = rule.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < lo:
        raise PolicyError(f"{where}: {key} must be a number >= {lo}, got {value!r}")
    return float(value)


def _flag(rule: dict, key: str, where: str, *, default: bool = True) -> bool:
    value = rule.get(key, default)
    if not isinstance(value, bool):
        raise PolicyError(f"{where}: {key} must be true or false, got {value!r}")
    return value


def _reason(rule: dict, where: str) -> str:
    reason = rule.get("reason")
    if not isinstance(reason, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", reason):
        raise PolicyError(f"{where}: reason must be an UPPER_SNAKE_CASE code, got {reason!r}")
    return reason


def _score_rule(rule: dict, where: str) -> ScoreRule:
    source = rule.get("source", "window")
    if source not in SOURCES:
        raise PolicyError(f"{where}: source must be one of {', '.join(SOURCES)}, got {source!r}")
    allowed = UTTERANCE_SCORES if source == "utterance" else WINDOW_SCORES
    score = rule.get("score")
    if score not in allowed:
        raise PolicyError(f"{where}: with source {source!r}, score must be one of {', '.join(allowed)}, got {score!r}")
    enter, exit_ = _number(rule, "enter", where), _number(rule, "exit", where)
    if not 0 < exit_ <= enter <= 1:
        raise PolicyError(f"{where}: need 0 < exit <= enter <= 1 (hysteresis), got enter {enter}, exit {exit_}")
    raw_levels = rule.get("levels")
    if not isinstance(raw_levels, list) or not raw_levels:
        raise PolicyError(f"{where}: levels must be a list of [seconds, level] pairs")
    levels = []
    for item in raw_levels:
        if not (isinstance(item, list) and len(item) == 2):
            raise PolicyError(f"{where}: each level is [seconds, level], got {item!r}")
        levels.append((_number({"s": item[0]}, "s", where), _level(item[1], where)))
    if [s for s, _ in levels] != sorted(s for s, _ in levels) or [lv for _, lv in levels] != sorted(
        lv for _, lv in levels
    ):
        raise PolicyError(f"{where}: levels must rise with time")
    return ScoreRule(
        reason=_reason(rule, where),
        score=score,
        roles=_roles(rule.get("roles"), where),
        enter=enter,
        exit=exit_,
        levels=tuple(levels),
        max_gap_s=_number(rule, "max_gap_s", where, default=12.0),
        cooldown_s=_number(rule, "cooldown_s", where, default=60.0),
        action=str(rule.get("action", "")),
        page=_flag(rule, "page", where),
        source=source,
    )


def _phrase_rule(rule: dict, where: str) -> PhraseRule:
    phrases = rule.get("phrases", [])
    patterns = rule.get("patterns", [])
    if not isinstance(phrases, list) or not isinstance(patterns, list) or not (phrases or patterns):
        raise PolicyError(f"{where}: give a list of phrases and/or patterns")
    compiled = []
    for p in patterns:
        try:
            compiled.append(re.compile(str(p)))
        except re.error as exc:
            raise PolicyError(f"{where}: pattern {p!r} is not a valid regular expression: {exc}") from None
    return PhraseRule(
        reason=_reason(rule, where),
        level=_level(rule.get("level"), where),
        roles=_roles(rule.get("roles"), where),
        phrases=tuple(n for n in (normalise(str(p)) for p in phrases) if n),
        patterns=tuple(compiled),
        action=str(rule.get("action", "")),
        page=_flag(rule, "page", where),
    )


def parse_policy(text: str, source: str = "<string>") -> Policy:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    unknown = set(doc) - {
        "score_rule",
        "phrase_rule",
        "question_rule",
        "rate_rule",
        "pause_rule",
        "response",
        "coaching",
        "fusion",
    }
    if unknown:
        raise PolicyError(
            f"{source}: unknown sections {sorted(unknown)} (expected [[score_rule]], [[phrase_rule]], "
            "[[question_rule]], [[rate_rule]], [[pause_rule]], [response], [coaching], [fusion])"
        )
    scores = tuple(_score_rule(r, f"{source} score_rule #{i + 1}") for i, r in enumerate(doc.get("score_rule", [])))
    phrases = tuple(_phrase_rule(r, f"{source} phrase_rule #{i + 1}") for i, r in enumerate(doc.get("phrase_rule", [])))
    response = ResponseRule(**_settings(ResponseRule(), doc.get("response", {}), f"{source} [response]"))
    coaching = CoachingRule(**_settings(CoachingRule(), doc.get("coaching", {}), f"{source} [coaching]"))
    fusion = FusionOptions(**_settings(FusionOptions(), doc.get("fusion", {}), f"{source} [fusion]"))
    for k in ("words_weight", "disappointment_words_weight"):
        if getattr(fusion, k) > 4:
            raise PolicyError(f"{source} [fusion]: {k} must be within 0-4, got {getattr(fusion, k)}")
    for k in ("windows_share", "sad_windows_share"):
        if getattr(fusion, k) > 1:
            raise PolicyError(f"{source} [fusion]: {k} must be within 0-1, got {getattr(fusion, k)}")
    for k in ("partly_drop", "calm_line", "relapse_line"):
        if getattr(response, k) > 1:
            raise PolicyError(f"{source} [response]: {k} must be within 0-1, got {getattr(response, k)}")
    if response.calm_pace < 1:
        raise PolicyError(f"{source} [response]: calm_pace is a multiple of the speaker's own pace, at least 1")
    if response.calm_line > response.relapse_line:
        raise PolicyError(f"{source} [response]: calm_line must not be above relapse_line")
    if coaching.upset_line > 1:
        raise PolicyError(f"{source} [coaching]: upset_line must be within 0-1, got {coaching.upset_line}")
    questions = tuple(
        _question_rule(r, f"{source} question_rule #{i + 1}") for i, r in enumerate(doc.get("question_rule", []))
    )
    rates = tuple(_rate_rule(r, f"{source} rate_rule #{i + 1}") for i, r in enumerate(doc.get("rate_rule", [])))
    pauses = tuple(_pause_rule(r, f"{source} pause_rule #{i + 1}") for i, r in enumerate(doc.get("pause_rule", [])))
    for rule in rates:
        if response.calm_pace >= rule.ratio:
            raise PolicyError(
                f"{source} [response]: calm_pace {response.calm_pace} must be under the ratio of rate rule "
                f"{rule.reason} ({rule.ratio}), or one sentence would count as both calm and fast"
            )
    return Policy(scores, phrases, source, response, coaching, questions, rates, pauses, fusion)


def _whole(rule: dict, key: str, where: str, default: int) -> int:
    value = _number(rule, key, where, default=default, lo=1)
    if value != int(value):
        raise PolicyError(f"{where}: {key} must be a whole number, got {value}")
    return int(value)


def _rate_rule(rule: dict, where: str) -> RateRule:
    ratio = _number(rule, "ratio", where, default=RateRule.ratio, lo=1.0)
    if ratio <= 1.0:
        raise PolicyError(f"{where}: ratio must be above 1 (faster than the speaker's own pace), got {ratio}")
    return RateRule(
        reason=_reason(rule, where),
        level=_level(rule.get("level"), where),
        roles=_roles(rule.get("roles"), where),
        ratio=ratio,
        hold=_whole(rule, "hold", where, RateRule.hold),
        baseline=_whole(rule, "baseline", where, RateRule.baseline),
        min_syllables=_whole(rule, "min_syllables", where, RateRule.min_syllables),
        cooldown_s=_number(rule, "cooldown_s", where, default=RateRule.cooldown_s),
        action=str(rule.get("action", "")),
        page=_flag(rule, "page", where),
    )


def _pause_rule(rule: dict, where: str) -> PauseRule:
    return PauseRule(
        reason=_reason(rule, where),
        level=_level(rule.get("level"), where),
        roles=_roles(rule.get("roles"), where),
        count=_whole(rule, "count", where, PauseRule.count),
        window_s=_number(rule, "window_s", where, default=PauseRule.window_s, lo=1.0),
        action=str(rule.get("action", "")),
        page=_flag(rule, "page", where, default=False),
    )


def _question_rule(rule: dict, where: str) -> QuestionRule:
    return QuestionRule(
        reason=_reason(rule, where),
        level=_level(rule.get("level"), where),
        roles=_roles(rule.get("roles"), where),
        count=_whole(rule, "count", where, 3),
        window_s=_number(rule, "window_s", where, default=60.0, lo=1.0),
        action=str(rule.get("action", "")),
        page=_flag(rule, "page", where),
        rise_st=_number(rule, "rise_st", where, default=QuestionRule.rise_st),
        rise_languages=_languages(rule.get("rise_languages", list(QuestionRule.rise_languages)), where),
    )


def _languages(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and re.fullmatch(r"[a-z]{2,3}", v) for v in value):
        raise PolicyError(f'{where}: rise_languages must be a list of language codes like "en", got {value!r}')
    return tuple(value)


def _settings(defaults: object, table: object, where: str) -> dict[str, float]:
    """A table of numeric settings over a dataclass's defaults; unknown keys and non-numbers refused."""
    if not isinstance(table, dict):
        raise PolicyError(f"{where}: must be a table of settings")
    names = list(defaults.__dataclass_fields__)  # type: ignore[attr-defined]
    unknown = set(table) - set(names)
    if unknown:
        raise PolicyError(f"{where}: unknown settings {sorted(unknown)}")
    return {k: _number(table, k, where, default=getattr(defaults, k)) for k in names}


def load_policy(path: Path) -> Policy:
    try:
        return parse_policy(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from None


class PolicySource:
    """The current policy, re-read from its file when the file changes (checked at most every `check_s`)."""

    def __init__(self, path: Path = DEFAULT_POLICY_FILE, *, check_s: float = 2.0) -> None:
        self._path = path
        self._check_s = check_s
        self._lock = threading.Lock()
        self._policy = load_policy(path)  # a broken file at start-up is an error the operator must see
        self._mtime = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> float:
        try:
            return self._path.stat().st_mtime
        except OSError:
            return -1.0

    @property
    def path(self) -> Path:
        return self._path

    def current(self) -> Policy:
        now = time.monotonic()
        if now - self._checked < self._check_s:
            return self._policy
        with self._lock:
            self._checked = now
            mtime = self._stat()
            if mtime != self._mtime:
                self._mtime = mtime
                try:
                    self._policy = load_policy(self._path)
                    log.info("escalation policy reloaded from %s", self._path)
                except PolicyError as exc:
                    log.error("escalation policy NOT reloaded, keeping the previous one: %s", exc)
        return self._policy
