"""The emotion analysis table customer-service teams keep: one row per alert, with what triggered it, what
the handbook suggests, and what came of it. Built from the same Alert messages the gRPC API returns."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from callguard.v1 import callguard_pb2 as pb

EMOTION_TYPE = {
    "ANGER_SUSTAINED": "anger",
    "AGENT_ANGER": "anger (agent)",
    "DISAPPOINTMENT_SUSTAINED": "disappointment",
    "THREAT_PHRASE": "threat / complaint",
    "REPEAT_CONTACT": "repeat contact",
}
COLUMNS = [
    "call_id",
    "raised_at_utc",
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
    "acknowledged_at_utc",
    "note",
    "alert_id",
]


def customer_id(summary: pb.CallSummary) -> str:
    meta = summary.metadata
    return meta.get("customer_id") or meta.get("customer") or meta.get("caller") or ""


def rows(summary: pb.CallSummary, alerts: Iterable[pb.Alert]) -> list[dict[str, str]]:
    out = []
    for a in alerts:
        reason = ",".join(a.reasons)
        trigger = f'phrase "{a.excerpt}"' if a.excerpt else f"prosody: {a.evidence}"
        out.append(
            {
                "call_id": a.call_id,
                "raised_at_utc": a.raised_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S"),
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
                "acknowledged_at_utc": (
                    a.acknowledged_at.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")
                    if a.HasField("acknowledged_at")
                    else ""
                ),
                "note": a.acknowledgement_note,
                "alert_id": a.alert_id,
            }
        )
    return out


def _safe_cell(value: str) -> str:
    """Cells a spreadsheet would run as a formula (=, +, -, @) are prefixed with a quote."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def csv_text(all_rows: Iterable[dict[str, str]], *, header: bool = True) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\r\n")
    if header:
        writer.writeheader()
    for row in all_rows:
        writer.writerow({k: _safe_cell(v) for k, v in row.items()})
    return buffer.getvalue()
