"""The emotion analysis table customer-service teams keep: one row per alert, with what triggered it, what
the handbook suggests, and what came of it. Built from the same Alert messages the gRPC API returns."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC

from callguard.v1 import callguard_pb2 as pb
from google.protobuf.timestamp_pb2 import Timestamp

EMOTION_TYPE = {
    "ANGER_SUSTAINED": "anger",
    "AGENT_ANGER": "anger (agent)",
    "DISAPPOINTMENT_SUSTAINED": "disappointment",
    "THREAT_PHRASE": "threat / complaint",
    "REPEAT_CONTACT": "complaint: repeat contact",
    "ANXIETY_URGENCY": "anxiety / impatience",
    "ANXIETY_WORDS": "anxiety / impatience",
    "ANXIETY_FAST_SPEECH": "anxiety / impatience",
    "CONFUSION_PHRASE": "confusion / uncertainty",
    "CONFUSION_WORDS": "confusion / uncertainty",
    "CONFUSION_QUESTIONS": "confusion / uncertainty",
    "CONFUSION_PAUSES": "confusion / uncertainty",  # the example [[pause_rule]] (off by default)
}
COLUMNS = [
    "call_id",
    "raised_at",
    "call_time_s",
    "customer_id",
    "agent",
    "queue",
    "speaker",
    "emotion",
    "level",
    "trigger",
    "suggested_action",
    "status",
    "acknowledged_by",
    "acknowledged_at",
    "note",
    "effect",
    "score_before",
    "score_after",
    "time_to_calm_s",
    "relapsed_at_s",
    "alert_id",
    # the call's conversation dynamics (the same on every row of a call)
    "customer_talk_share",
    "agent_talk_share",
    "overtalk_s",
    "interruptions",
    "longest_silence_s",
]


def iso8601(ts: Timestamp) -> str:
    """ISO 8601 with the UTC offset written out ("2026-11-30T20:06:21+00:00"): what spreadsheets, pandas and
    people in any zone read without guessing the zone."""
    return ts.ToDatetime(tzinfo=UTC).isoformat(timespec="seconds")


def customer_id(summary: pb.CallSummary) -> str:
    meta = summary.metadata
    return meta.get("customer_id") or meta.get("customer") or meta.get("caller") or ""


EFFECT = {
    pb.AlertOutcome.EFFECTIVE: "effective",
    pb.AlertOutcome.PARTLY: "partly",
    pb.AlertOutcome.NOT_EFFECTIVE: "not effective",
    pb.AlertOutcome.PENDING: "pending",
    pb.AlertOutcome.NO_SPEECH: "no speech after",
}


COACHING = {
    "AGENT_INTERRUPTED": (
        "coaching: interrupted an upset customer",
        "Let the customer finish: listen without interrupting, then restate their problem in their words.",
    ),
    "AGENT_CONTAGION": (
        "coaching: emotion contagion",
        "Keep your own emotions in check: lower the voice, slow down, and answer the problem, not the tone.",
    ),
}


def rows(
    summary: pb.CallSummary,
    alerts: Iterable[pb.Alert],
    outcomes: Iterable[pb.AlertOutcome] = (),
    coaching: Iterable[pb.CoachingMoment] = (),
) -> list[dict[str, str]]:
    """One row per alert, then one per coaching moment; `outcomes` (Queries.analysis) fill the effect
    columns. Rows are in call-time order."""
    effect = {o.alert_id: o for o in outcomes}
    out = []
    for a in alerts:
        o = effect.get(a.alert_id)
        reason = ",".join(a.reasons)
        if a.words_class or a.voice_score > 0:  # an utterance rule: what was said and how it sounded
            trigger = f"words and voice: {a.evidence}"
        elif a.excerpt:
            trigger = f'phrase "{a.excerpt}"'
        else:
            trigger = f"prosody: {a.evidence}"
        out.append(
            {
                "call_id": a.call_id,
                "raised_at": iso8601(a.raised_at),
                "call_time_s": f"{a.start_s:.1f}",
                "customer_id": customer_id(summary),
                "agent": a.agent,
                "queue": a.queue,
                "speaker": f"{pb.Role.Name(a.role).lower()} (ch{a.channel})",
                "emotion": EMOTION_TYPE.get(reason, reason.lower()),
                "level": pb.AlertLevel.Name(a.level),
                "trigger": trigger,
                "suggested_action": a.action,
                "status": pb.AlertStatus.Name(a.status),
                "acknowledged_by": a.acknowledged_by,
                "acknowledged_at": iso8601(a.acknowledged_at) if a.HasField("acknowledged_at") else "",
                "note": a.acknowledgement_note,
                "effect": EFFECT.get(o.effect, "") if o else "",
                "score_before": _score(o.score_name, o.score_before) if o else "",
                "score_after": _score(o.score_name, o.score_after) if o else "",
                "time_to_calm_s": f"{o.time_to_calm_s:.1f}" if o and o.HasField("time_to_calm_s") else "",
                "relapsed_at_s": f"{o.relapsed_at_s:.1f}" if o and o.HasField("relapsed_at_s") else "",
                "alert_id": a.alert_id,
                "customer_talk_share": f"{summary.customer_talk_share:.2f}",
                "agent_talk_share": f"{summary.agent_talk_share:.2f}",
                "overtalk_s": f"{summary.overtalk_s:.1f}",
                "interruptions": str(summary.interruptions),
                "longest_silence_s": f"{summary.longest_silence_s:.1f}",
            }
        )
    for m in coaching:
        emotion, advice = COACHING.get(m.kind, (f"coaching: {m.kind.lower()}", ""))
        out.append({
            **dict.fromkeys(COLUMNS, ""),
            "call_id": summary.call_id,
            "call_time_s": f"{m.t_s:.1f}",
            "customer_id": customer_id(summary),
            "agent": summary.metadata.get("agent") or summary.metadata.get("agent_id", ""),
            "queue": summary.metadata.get("queue", ""),
            "speaker": f"{pb.Role.Name(m.role).lower()} (ch{m.channel})",
            "emotion": emotion,
            "level": "COACHING",
            "trigger": m.evidence,
            "suggested_action": advice,
            "status": "COACHING",
        })  # fmt: skip
    out.sort(key=lambda r: float(r["call_time_s"]))
    return out


def _safe_cell(value: str) -> str:
    """Cells a spreadsheet would run as a formula (=, +, -, @) are prefixed with a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


# UTF-8 byte-order mark: Excel reads a CSV without it in the system's ANSI code page (GBK on a Chinese
# Windows, so 张三 turns to mojibake) and reads UTF-8 with it; LibreOffice and Python's utf-8-sig accept it.
BOM = "\ufeff"


def csv_text(all_rows: Iterable[dict[str, str]], *, header: bool = True) -> str:
    """Rows as CSV (CRLF lines, formula-like cells neutralised); with `header`, the BOM and the header row first,
    so the text is a whole file or, without it, more rows of one."""
    buffer = io.StringIO()
    if header:
        buffer.write(BOM)
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    if header:
        writer.writeheader()
    for row in all_rows:
        writer.writerow({k: _safe_cell(v) for k, v in row.items()})
    return buffer.getvalue()


MAX_SUMMARY_CALLS = 2000  # a QA summary reads every matching call's timeline; past this it says it stopped


def response_summary(items: Iterable[tuple[pb.Alert, pb.AlertOutcome]]) -> dict[str, object]:
    """Per agent and per queue, for the customer's alerts: how many, how many de-escalated (EFFECTIVE), partly,
    not, still pending or without speech after, the de-escalated share of those judged, and the median time to
    calm of the alerts that calmed. Agent-channel alerts (the agent's own anger) are coaching, not counted."""
    groups: dict[str, dict[str, list[pb.AlertOutcome]]] = {"agent": {}, "queue": {}}
    for alert, outcome in items:
        if alert.role != pb.CUSTOMER:
            continue
        groups["agent"].setdefault(alert.agent or "(none)", []).append(outcome)
        groups["queue"].setdefault(alert.queue or "(none)", []).append(outcome)

    def row(name: str, outcomes: list[pb.AlertOutcome]) -> dict[str, object]:
        count = {k: sum(o.effect == v for o in outcomes) for k, v in _EFFECT_KEYS.items()}
        judged = count["effective"] + count["partly"] + count["not_effective"]
        calm = sorted(o.time_to_calm_s for o in outcomes if o.HasField("time_to_calm_s"))
        median = (calm[(len(calm) - 1) // 2] + calm[len(calm) // 2]) / 2 if calm else None
        return {
            "name": name,
            "alerts": len(outcomes),
            **count,
            "de_escalated_share": round(count["effective"] / judged, 3) if judged else None,
            "median_time_to_calm_s": round(median, 1) if median is not None else None,
        }

    return {key: [row(n, o) for n, o in sorted(g.items())] for key, g in groups.items()}


_EFFECT_KEYS = {
    "effective": pb.AlertOutcome.EFFECTIVE,
    "partly": pb.AlertOutcome.PARTLY,
    "not_effective": pb.AlertOutcome.NOT_EFFECTIVE,
    "pending": pb.AlertOutcome.PENDING,
    "no_speech": pb.AlertOutcome.NO_SPEECH,
}


def _score(name: str, value: float) -> str:
    """An outcome's score as read: "anger 0.85", "pace 1.50x" (of their own), "questions 75%"."""
    if name == "pace":
        return f"pace {value:.2f}x"
    if name == "questions":
        return f"questions {value:.0%}"
    return f"{name} {value:.2f}"
