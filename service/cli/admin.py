"""Commands that run the service or act on its store: serve, token, purge, audit."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime

from service import logs
from service.auth import AccessRole
from service.cli.common import print_json, when
from service.settings import load_settings


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
                print_json({"token": token, "token_id": record.token_id, "name": record.name, "role": args.role})
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
                print_json(rows)
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
        print_json({"purged": purged})
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
        print_json([e.__dict__ for e in entries])
        return 0
    for e in entries:  # local time, zone shown: the convention of every command (common.when)
        print(f"{when(e.at)} {e.action:12} {e.call_id:28} {e.who} [{e.role}] {e.detail}")
    if not entries:
        print("no audit entries yet")
    return 0
