"""What every `callguard` command shares: the server connection, JSON output, readable lines."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime

from callguard.v1 import callguard_pb2 as pb
from google.protobuf.json_format import MessageToDict

from service import client
from service.audio.formats import Encoding

DEFAULT_SERVER = "127.0.0.1:50051"
ROLE_NAMES = {pb.CUSTOMER: "customer", pb.AGENT: "agent", pb.ROLE_UNSPECIFIED: "?"}
ENCODING_BY_PB = {pb.LINEAR16: Encoding.LINEAR16, pb.MULAW: Encoding.MULAW, pb.ALAW: Encoding.ALAW}


def as_dict(msg) -> dict:  # type: ignore[no-untyped-def]
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def print_json(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def connection(args: argparse.Namespace) -> client.Connection:
    return client.Connection(args.server, args.token, args.tls_ca, args.tls_cert, args.tls_key)


def emotion_line(e, role: str) -> str:  # type: ignore[no-untyped-def]
    """One readable line for an emotion estimate (proto message or report dict alike)."""
    get = e.get if isinstance(e, dict) else lambda k: getattr(e, k, None)
    p = get("prosody") or e
    pget = p.get if isinstance(p, dict) else lambda k: getattr(p, k)
    calibrating = "" if get("baseline_ready") else "  (learning baseline)"
    return (
        f"ch{get('channel')} {role:8} {get('start_s'):6.2f}-{get('end_s'):6.2f} anger {get('anger'):.2f} "
        f"disappointment {get('disappointment'):.2f} | pitch {pget('pitch_hz'):.0f} Hz "
        f"{pget('pitch_st_vs_baseline'):+.1f} st, loudness {pget('loudness_db_vs_baseline'):+.1f} dB, "
        f"{pget('speech_rate_sps'):.1f} syl/s, pauses {100 * pget('pause_ratio'):.0f}%{calibrating}"
    )


def utterance_line(u, role: str) -> str:  # type: ignore[no-untyped-def]
    """One readable line for a judged utterance (proto UtteranceEmotion or report dict alike): the fused scores
    that reach the policy, and for the strongest emotion what the words and the voice each said."""
    get = u.get if isinstance(u, dict) else lambda k: getattr(u, k, None)
    words = get("words") if (not isinstance(u, dict) or u.get("words")) else None
    if words is not None and not isinstance(u, dict) and not u.HasField("words"):
        words = None
    voice = get("voice")
    wget = (words.get if isinstance(words, dict) else lambda k: getattr(words, k)) if words else None
    vget = voice.get if isinstance(voice, dict) else lambda k: getattr(voice, k)
    scores = {k: get(k) for k in ("anger", "disappointment", "anxiety", "confusion")}
    top = max(scores, key=lambda k: scores[k])
    why = []
    if wget is not None:
        drivers = wget("drivers")
        phrases = (
            drivers.get(top, [])
            if isinstance(drivers, dict)
            else next((list(d.phrases) for d in drivers if d.emotion == top), [])
        )
        why.append(f"words {wget(top):.2f}" + (f' "{phrases[0]}"' if phrases else ""))
    voice_value = {"anger": vget("anger"), "disappointment": vget("sad")}.get(top)
    if voice_value is not None:
        why.append(f"voice {voice_value:.2f}" + ("" if vget("source") == "utterance" else " (windows)"))
    return (
        f"ch{get('channel')} {role:8} {get('start_s'):6.2f}-{get('end_s'):6.2f} judged: "
        + " ".join(f"{k} {v:.2f}" for k, v in scores.items())
        + (f" | {top}: {', '.join(why)}" if why and scores[top] >= 0.3 else "")
    )


def when(ts, *, zone: bool = True) -> str:  # type: ignore[no-untyped-def]
    """A wall-clock time in the terminal's local zone (TZ), the zone shown: "2026-11-30 20:06:21 UTC",
    "2026-12-01 04:06:21 CST (+08:00)"; with zone=False the caller shows `zone_label()` once (a table header).
    `ts`: a protobuf Timestamp or unix seconds; unset: "-". One convention for every command, as the console
    shows the browser's zone."""
    seconds = float(ts) if isinstance(ts, int | float) else ts.seconds + ts.nanos / 1e9
    if not seconds:
        return "-"
    local = datetime.fromtimestamp(seconds).astimezone()
    return f"{local:%Y-%m-%d %H:%M:%S}" + (f" {zone_label(local)}" if zone else "")


def zone_label(at: datetime | None = None) -> str:
    """The local zone as people read it: "UTC", or its abbreviation with the UTC offset, "CST (+08:00)"."""
    local = (at or datetime.now()).astimezone()
    name, offset = local.strftime("%Z"), local.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    if offset == "+00:00" and name in ("UTC", "GMT", ""):
        return "UTC"
    return f"{name} ({offset})" if name and not name.startswith(("+", "-")) else f"UTC{offset}"


def colour(text: str, code: str) -> str:
    """`text` in an ANSI colour when stdout is a terminal and NO_COLOR (no-color.org) is unset."""
    if not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    return f"\033[{code}m{text}\033[0m"


def _field(obj, name: str):  # type: ignore[no-untyped-def]
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name)


def _level_and_role(a) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """("HIGH", "customer") from a proto Alert (enum numbers) or an `analyze --json` dict (names)."""
    level, role = _field(a, "level"), _field(a, "role")
    level = pb.AlertLevel.Name(level) if isinstance(level, int) else level
    return level, pb.Role.Name(role).lower() if isinstance(role, int) else role


def alert_banner(a, *, as_event: bool = True) -> str:  # type: ignore[no-untyped-def]
    """A raised or upgraded alert as one line that stands out among transcript and emotion lines (proto Alert
    or `analyze --json` dict alike): level, reasons, speaker, when, what was heard, what to do. `as_event`:
    an upgrade says so ("ALERT UPGRADED to HIGH"); a stored alert is shown at its final level."""
    level, role = _level_and_role(a)
    what = "ALERT UPGRADED to" if as_event and _field(a, "version") > 1 else "ALERT"
    excerpt = _field(a, "excerpt")
    judged = _field(a, "words_class") or (_field(a, "voice_score") or 0) > 0  # its evidence quotes what was said
    heard = f' heard "{excerpt}"' if excerpt and not judged else ""
    line = (
        f"*** {what} {level} {','.join(_field(a, 'reasons'))}: ch{_field(a, 'channel')} {role} "
        f"{_field(a, 'start_s'):.1f}-{_field(a, 'end_s'):.1f} s{heard}: {_field(a, 'evidence')} "
        f"-> {_field(a, 'action')}"
    )
    return colour(line, "1;31" if level == "HIGH" else "1;33")


def alerts_summary(alerts: list) -> str:  # type: ignore[type-arg]
    """The call's alerts in one line, at their final level (proto Alerts or `analyze --json` dicts)."""
    if not alerts:
        return "alerts: none"

    def one(a) -> str:  # type: ignore[no-untyped-def]
        level, role = _level_and_role(a)
        return (
            f"{level} {','.join(_field(a, 'reasons'))} ({role}, {_field(a, 'start_s'):.1f}-{_field(a, 'end_s'):.1f} s)"
        )

    return f"alerts: {len(alerts)}: " + "; ".join(one(a) for a in alerts)


def alert_line(a: pb.Alert) -> str:
    """One readable line per alert change, as a supervisor's terminal shows it: a new or upgraded alert, or an
    acknowledgement (which must not read like a new alert)."""
    role = pb.Role.Name(a.role).lower()
    where = f"call {a.call_id} ch{a.channel} {role} @{a.t_s:.1f}s"
    if a.status != pb.OPEN:
        note = f": {a.acknowledgement_note}" if a.acknowledgement_note else ""
        return (
            f"{when(a.acknowledged_at if a.acknowledged_at.seconds else a.updated_at)} acknowledged by {a.acknowledged_by}{note} "
            f"(was {pb.AlertLevel.Name(a.level)} {','.join(a.reasons)}, {where})  [id {a.alert_id}]"
        )
    what = "UPGRADED to " if a.version > 1 else ""
    line = (
        f"{when(a.updated_at)} {what}{pb.AlertLevel.Name(a.level):6} {','.join(a.reasons)} {where} "
        f"({a.start_s:.1f}-{a.end_s:.1f}s): {a.evidence} -> {a.action}  [id {a.alert_id}]"
    )
    return colour(line, "1;31" if a.level == pb.HIGH else "1;33")


def _mmss(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:04.1f}"


def dynamics_rows(d: pb.ConversationDynamics) -> list[tuple[str, str]]:
    """(label, text) rows for a call's conversation dynamics: talk, overtalk and interruptions, silences, rate."""
    if not d.speakers:
        return []
    stereo = len(d.speakers) > 1
    talk = ", ".join(
        f"{ROLE_NAMES[s.role]} {s.talk_s:.1f} s ({100 * s.talk_share:.0f}%, {s.turns} turns"
        + (f", {s.pauses} pauses in turn = {s.pauses_per_min:.1f}/min)" if stereo else ")")
        for s in d.speakers
    )
    rows = [("talk", talk)]
    if len(d.speakers) > 1:
        cuts = "; ".join(
            f"{ROLE_NAMES[i.by_role]} over {ROLE_NAMES[i.of_role]} at {_mmss(i.start_s)} for {i.overlap_s:.1f} s"
            for i in d.interruptions
        )
        n = len(d.interruptions)
        rows.append(
            ("overtalk", f"{d.overtalk_s:.1f} s; {n} interruption{'s' * (n != 1)}" + (f": {cuts}" if cuts else ""))
        )
    quiet = "; ".join(
        f"{'hold-like' if s.hold_like else 'dead air'} {_mmss(s.start_s)}-{_mmss(s.end_s)} ({s.end_s - s.start_s:.1f} s)"
        for s in d.silences
    )
    rows.append(
        (
            "silence",
            f"longest {d.longest_silence_s:.1f} s, nobody talking {d.non_talk_s:.1f} s"
            + (f"; {quiet}" if quiet else ""),
        )
    )
    rates = [
        f"{ROLE_NAMES[s.role]} " + " ".join(f"{p.speech_rate_sps:.1f}" for p in s.speech_rate)
        for s in d.speakers
        if s.speech_rate
    ]
    if rates:
        rows.append(("speech_rate", "syllables/s per 30 s: " + "; ".join(rates)))
    if d.unanalysed:
        rows.append(
            ("NOTE", f"{sum(r.end_s - r.start_s for r in d.unanalysed):.1f} s not analysed (analysis was behind)")
        )
    return rows


_EFFECT_TEXT = {
    pb.AlertOutcome.EFFECTIVE: "effective (有效)",
    pb.AlertOutcome.PARTLY: "partly effective (部分有效)",
    pb.AlertOutcome.NOT_EFFECTIVE: "not effective (无效)",
    pb.AlertOutcome.PENDING: "pending: the call goes on and the customer has not calmed yet",
    pb.AlertOutcome.NO_SPEECH: "no speech after the alert",
}


def outcome_text(o: pb.AlertOutcome) -> str:
    """What the speaker's emotion did after an alert, with the numbers behind the verdict."""
    if o.score_name == "pace":  # rate alerts: speech rate over the speaker's own pace, per sentence
        parts = [f"pace {o.score_before:.2f}x -> {o.score_after:.2f}x their own over the last sentences"]
    elif o.score_name == "questions":  # question alerts: share of the speaker's sentences that asked
        parts = [f"questions {o.score_before:.0%} -> {o.score_after:.0%} of their last sentences"]
    else:
        parts = [f"{o.score_name} {o.score_before:.2f} -> {o.score_after:.2f} over the last seconds of speech"]
    if o.HasField("time_to_calm_s"):
        parts.append(f"calm {o.time_to_calm_s:.0f} s after the alert")
    if o.HasField("relapsed_at_s"):
        parts.append(f"flared up again at {_mmss(o.relapsed_at_s)}")
    return f"{_EFFECT_TEXT.get(o.effect, '?')}: " + ", ".join(parts)


def print_rows(rows: list[tuple[str, str]]) -> None:
    """Label/value rows, values aligned in one column."""
    width = max((len(label) for label, _ in rows), default=0) + 2
    for label, value in rows:
        print(f"{label:{width}}{value}")
