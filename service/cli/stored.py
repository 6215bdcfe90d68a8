"""Commands on stored calls: list them, show one, save its audio."""

from __future__ import annotations

import argparse
from pathlib import Path

from callguard.v1 import callguard_pb2 as pb

from service import client
from service.audio.formats import AudioFormat
from service.audio.wavfile import WavAudio, write_wav
from service.cli.common import (
    ENCODING_BY_PB,
    ROLE_NAMES,
    alert_banner,
    as_dict,
    connection,
    dynamics_rows,
    outcome_text,
    print_json,
    print_rows,
    when,
    zone_label,
)
from service.domain import agent_of


# ---- calls / show / audio -----------------------------------------------------------------------------------
def cmd_calls(args: argparse.Namespace) -> int:
    stub = client.connect(connection(args))
    status = pb.CallStatus.Value(args.status.upper()) if args.status else pb.CALL_STATUS_UNSPECIFIED
    level = pb.AlertLevel.Value(args.min_level.upper()) if args.min_level else (pb.LOW if args.flagged else 0)
    resp = stub.ListCalls(
        pb.ListCallsRequest(
            page_size=args.limit,
            page_token=args.page_token,
            status=status,
            min_alert_level=level,
            reason=args.reason,
            unacknowledged_only=args.unacknowledged,
            agent=args.agent,
            queue=args.queue,
            text=args.text,
            order=pb.CallOrder.Value(args.order.replace("-", "_").upper()),
        )
    )
    if args.json:
        print_json(as_dict(resp))
        return 0
    if not resp.calls:
        print("no calls stored yet; stream one with `callguard stream CALL.wav`")
        return 0
    started = f"STARTED ({zone_label()})"
    width = max(19, len(started))
    header = (
        f"{'CALL ID':28} {started:{width}} {'DURATION':>8} {'CH':>2} {'SEGS':>4} {'STATUS':10} {'ANGER':>5} "
        f"{'ALERTS':14} AGENT/QUEUE"
    )
    print(header)
    for c in resp.calls:
        agent = agent_of(c.metadata)
        who = "/".join(v for v in (agent, c.metadata.get("queue", "")) if v)
        alerts = (
            f"{c.alert_count} {pb.AlertLevel.Name(c.max_alert_level)}"
            + (f" {c.open_alert_count} open" if c.open_alert_count else "")
            if c.alert_count
            else "-"
        )
        print(
            f"{c.call_id[:28]:28} {when(c.started_at, zone=False):{width}} {c.duration_s:7.1f}s {c.channel_count:>2} "
            f"{c.segment_count:>4} {pb.CallStatus.Name(c.status):10} {c.peak_anger:5.2f} {alerts:14} {who}"
        )
    if resp.next_page_token:
        print(f"more: callguard calls --page-token {resp.next_page_token}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    call = client.connect(connection(args)).GetCall(pb.GetCallRequest(call_id=args.call_id))
    if args.json:
        print_json(as_dict(call))
        return 0
    s = call.summary
    roles = ", ".join(f"ch{i}={ROLE_NAMES[r]}" for i, r in enumerate(s.channel_roles))
    ended = f", ended {when(s.ended_at)}" if s.ended_at.seconds else " (still active)"
    rows = [
        ("call", s.call_id),
        ("status", pb.CallStatus.Name(s.status) + (f" ({s.end_reason})" if s.end_reason else "")),
        ("started", when(s.started_at) + ended),
        ("audio", f"{s.duration_s:.2f} s, {pb.AudioEncoding.Name(s.encoding)} {s.sample_rate_hz} Hz, {roles}"),
        ("language", s.language),
        *sorted(s.metadata.items()),
        ("peak", f"anger {s.peak_anger:.2f}, disappointment {s.peak_disappointment:.2f} (any speaker)"),
        ("alerts", _alert_count(s)),
        *dynamics_rows(call.dynamics),
    ]
    if s.utterances_shed:
        rows.append(("WARNING", f"{s.utterances_shed} utterances were not transcribed (transcription was behind)"))
    if s.segments_dropped:
        rows.append(("NOTE", f"{s.segments_dropped} decoded segments were dropped as likely hallucinations"))
    print_rows(rows)
    outcomes = {o.alert_id: o for o in call.outcomes}
    for a in call.alerts:
        print(f"\n  {alert_banner(a, as_event=False)}")
        if a.alert_id in outcomes:
            print(f"    effect: {outcome_text(outcomes[a.alert_id])}")
        if a.status == pb.ACKNOWLEDGED:
            note = f": {a.acknowledgement_note}" if a.acknowledgement_note else ""
            print(f"    acknowledged by {a.acknowledged_by} at {when(a.acknowledged_at)}{note}")
        else:
            print(f"    OPEN since {when(a.raised_at)}; `callguard ack {a.alert_id} --by NAME` closes it")
    print()
    for seg in call.segments:
        print(f"{seg.start_s:7.2f}-{seg.end_s:7.2f}  {ROLE_NAMES[seg.role]:8} [{seg.language}] {seg.text}")
    if not call.segments:
        print("(no transcript)")
    return 0


def _alert_count(s: pb.CallSummary) -> str:
    if not s.alert_count:
        return "none"
    open_ = f", {s.open_alert_count} open" if s.open_alert_count else ", all acknowledged"
    return f"{s.alert_count} (highest {pb.AlertLevel.Name(s.max_alert_level)}{open_})"


def cmd_audio(args: argparse.Namespace) -> int:
    fmt, data = client.fetch_audio(client.connect(connection(args)), args.call_id)
    audio = WavAudio(AudioFormat(ENCODING_BY_PB[fmt.encoding], fmt.sample_rate_hz, fmt.channel_count), data)
    out = Path(args.output or f"{args.call_id}.wav")
    write_wav(out, audio)
    if args.json:
        print_json({"call_id": args.call_id, "path": str(out), "bytes": len(data), "duration_s": audio.duration_s})
    else:
        print(f"wrote {out}: {audio.duration_s:.2f} s, {len(data)} bytes of audio exactly as received")
    return 0
