"""Commands on live calls: stream a recording as a call, analyse one offline, follow and acknowledge alerts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from callguard.v1 import callguard_pb2 as pb

from service import client
from service.audio.wavfile import read_recording
from service.cli.common import (
    ROLE_NAMES,
    alert_banner,
    alert_line,
    alerts_summary,
    as_dict,
    connection,
    dynamics_rows,
    emotion_line,
    print_json,
    print_rows,
    utterance_line,
)
from service.domain import OPEN_ALERTS_HEADER
from service.errors import CallguardError
from service.settings import load_settings


# ---- stream -----------------------------------------------------------------------------------------------
def _format_event(event: pb.CallEvent, *, emotions: bool = True) -> str | None:
    kind = event.WhichOneof("event")
    t = f"[{event.call_time_s:7.2f}s]"
    if kind == "accepted":
        return f"{t} call {event.accepted.call_id} accepted (languages: {', '.join(event.accepted.languages)})"
    if kind in ("transcript", "interim"):
        s = getattr(event, kind)
        tag = f"[{s.language}]" if kind == "transcript" else "(interim)"
        return f"{t} ch{s.channel} {ROLE_NAMES[s.role]:8} {s.start_s:6.2f}-{s.end_s:6.2f} {tag} {s.text}"
    if kind == "emotion":
        return f"{t} {emotion_line(event.emotion, ROLE_NAMES[event.emotion.role])}" if emotions else None
    if kind == "utterance_emotion":
        u = event.utterance_emotion
        return f"{t} {utterance_line(u, ROLE_NAMES[u.role])}" if emotions else None
    if kind == "escalation":
        return f"{t} {alert_banner(event.escalation)}"
    if kind == "notice":
        n = event.notice
        return f"{t} NOTICE {pb.Notice.Code.Name(n.code)} ch{n.channel} {n.start_s:.2f}-{n.end_s:.2f}: {n.message}"
    if kind == "ended":
        e = event.ended
        return (
            f"{t} call ended: {pb.CallStatus.Name(e.status)}, {e.duration_s:.2f} s of audio, "
            f"{e.segments} segments, {e.utterances_shed} utterances not transcribed, "
            f"{e.segments_dropped} segments dropped as likely hallucinations"
        )
    return None  # progress acknowledgements are for machines


def cmd_stream(args: argparse.Namespace) -> int:
    audio = read_recording(args.wav)
    metadata = dict(kv.split("=", 1) for kv in args.meta)
    options = client.StreamOptions(
        call_id=args.call_id,
        language=args.language,
        roles=tuple(args.roles.split(",")) if args.roles else (),
        metadata=metadata,
        frame_ms=args.frame_ms,
        realtime=args.realtime,
        speed=args.speed,
        interim_results=args.interim,
        resume=args.resume,
    )
    stub = client.connect(connection(args))
    if args.resume and not args.call_id:
        raise CallguardError("--resume needs the --call-id of the interrupted call")
    if args.speed <= 0:
        raise CallguardError(f"--speed {args.speed:g} must be above 0")
    if not args.json:
        f = audio.format
        pace = (" in real time" if args.speed == 1 else f" at {args.speed:g}x real time") if args.realtime else ""
        print(
            f"streaming {args.wav}: {f.encoding.value} {f.sample_rate_hz} Hz, {f.channel_count} channel(s), "
            f"{audio.duration_s:.2f} s{pace} to {args.server}",
            flush=True,
        )
    alerts: dict[str, pb.Alert] = {}
    dynamics = pb.ConversationDynamics()
    for event in client.stream_call(stub, audio, options):
        if event.WhichOneof("event") == "escalation":
            alerts[event.escalation.alert_id] = event.escalation
        if event.WhichOneof("event") == "dynamics":
            dynamics = event.dynamics
        if args.json:
            print_json(as_dict(event))
        else:
            line = _format_event(event, emotions=not args.no_emotions)
            if line:
                print(line, flush=True)
    if not args.json:
        print_rows(dynamics_rows(dynamics))
        print(alerts_summary(list(alerts.values())))
    return 0


# ---- analyze -----------------------------------------------------------------------------------------------
def cmd_analyze(args: argparse.Namespace) -> int:
    """The live pipeline (CallSession) run over a recording, without a server."""
    import re
    import tempfile

    from service import convert
    from service.dynamics.conversation import from_dict
    from service.offline import analyse_recording
    from service.server import build_deps

    audio = read_recording(args.wav)
    options = client.StreamOptions(language=args.language, roles=tuple(args.roles.split(",")) if args.roles else ())
    call_id = re.sub(r"[^A-Za-z0-9._-]", "_", Path(args.wav).stem)[:40].lstrip(".") or "call"
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=args.data_dir or tmp)
        deps = build_deps(settings)
        spec = convert.call_spec(
            client.config_for(audio, options), call_id=f"{call_id}-{new_suffix()}", allowed_languages=settings.languages
        )
        events = analyse_recording(
            spec, audio, deps, progress=lambda line: print(f"analyze: {line}", file=sys.stderr, flush=True)
        )
        deps.pool.close()
        deps.store.close()
    f = audio.format
    call = {
        "file": str(args.wav),
        "encoding": f.encoding.value,
        "sample_rate_hz": f.sample_rate_hz,
        "channels": [{"channel": i, "role": r.value.lower()} for i, r in enumerate(spec.roles)],
        "duration_s": audio.duration_s,
    }
    if args.json:
        print_json({"call": call, "events": events})
        return 0
    print(
        f"{args.wav}: {f.encoding.value} {f.sample_rate_hz} Hz, {f.channel_count} channel(s), {audio.duration_s:.1f} s"
    )
    for channel, role in enumerate(spec.roles):
        print(f"\n== channel {channel}: {role.value.lower()} ==")
        for e in events:
            if e["channel"] != channel:
                continue
            if e["type"] == "emotion" and not args.no_emotions:
                print("  " + emotion_line(e, role.value.lower()))
            elif e["type"] == "transcript":
                print(f'  {e["start_s"]:6.2f}-{e["end_s"]:6.2f} "{e["text"]}"')
            elif e["type"] == "utterance" and not args.no_emotions:
                print("  " + utterance_line(e, role.value.lower()))
            elif e["type"] == "escalation":
                print(f"  {alert_banner(e)}")
    last = [e for e in events if e["type"] == "dynamics"][-1:]
    if last:
        d = {k: v for k, v in last[0].items() if k not in ("type", "channel", "role", "start_s")}
        d["duration_s"] = d.pop("end_s")
        print()
        print_rows(dynamics_rows(convert.dynamics_pb(from_dict(d), spec.roles)))
    final = {e["alert_id"]: e for e in events if e["type"] == "escalation"}  # each alert at its last version
    print("\n" + alerts_summary(list(final.values())))
    return 0


def new_suffix() -> str:
    import secrets

    return secrets.token_hex(3)


def cmd_alerts(args: argparse.Namespace) -> int:
    """Print alerts as they happen (the open ones first) until interrupted. Text mode first says what it is
    subscribed to and how many alerts are open, so an empty screen reads as "connected, nothing new"."""
    stub = client.connect(connection(args))
    request = pb.SubscribeAlertsRequest(
        call_id=args.call_id,
        queue=args.queue,
        agent=args.agent,
        min_level=pb.AlertLevel.Value(args.min_level.upper()),
        include_unpaged=args.include_unpaged,
    )
    responses = stub.SubscribeAlerts(request)
    if args.json:
        for alert in responses:
            print_json(as_dict(alert))
        return 0
    open_now = int(dict(responses.initial_metadata()).get(OPEN_ALERTS_HEADER, "0"))
    scope = [f"call {args.call_id}" if args.call_id else "all calls"]
    scope += [f"queue {args.queue}"] * bool(args.queue) + [f"agent {args.agent}"] * bool(args.agent)
    print(
        f"subscribed to alerts at {args.min_level.upper()} or above on {', '.join(scope)} ({args.server}): "
        f"{open_now} open{', listed first' if open_now else ''}. Ctrl-C to stop.",
        flush=True,
    )
    if not open_now:
        print("waiting for new alerts ...", flush=True)
    for n, alert in enumerate(responses, start=1):
        print(alert_line(alert), flush=True)
        if n == open_now:
            print("--- open alerts above; new alerts and changes from here on ---", flush=True)
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    stub = client.connect(connection(args))
    alert = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=args.alert_id, by=args.by, note=args.note))
    if args.json:
        print_json(as_dict(alert))
    else:
        print(alert_line(alert))
    return 0
