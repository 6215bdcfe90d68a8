"""The live board's API: calls in progress with each speaker's recent scores, open alerts of live and of
recently ended calls, the alert event stream (server-sent events) and acknowledgement."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from callguard.v1 import callguard_pb2 as pb
from fastapi import Body, FastAPI, Request
from fastapi.responses import StreamingResponse

from service import convert
from service.auth import Permission, Principal
from service.escalation.alerts import AlertFilter
from service.escalation.bus import AlertHub
from service.escalation.policy import Level
from service.queries import MAX_PAGE_SIZE, Queries
from service.web.common import as_json, level_value, needs

SPARKLINE_S = 60.0  # call time shown in the live board's sparklines
SSE_POLL_S = 0.1  # how often an alert stream looks for new alerts (the latency a supervisor sees)
# A ping event this often: the board (JS) sees it, so a stream that stopped delivering (a half-open socket
# after a laptop sleep, a proxy holding the connection) is noticed and reopened (static/live.js's watchdog).
SSE_PING_S = 5.0
SSE_RETRY_MS = 2000  # the browser's own reconnect delay after a dropped stream (the SSE `retry:` field)


def add_live_routes(app: FastAPI, queries: Queries, alerts: AlertHub, *, live_ended_s: float) -> None:
    """Register /api/live and /api/alerts* on `app`; `live_ended_s`: Settings.live_board_ended_s."""

    # ---- live board -------------------------------------------------------------------------------------
    @app.get("/api/live", summary="Calls in progress, each speaker's recent anger and disappointment")
    def live(who: Annotated[Principal, needs(Permission.LIVE)]) -> dict[str, Any]:
        active = queries.list_calls(pb.ListCallsRequest(status=pb.ACTIVE, page_size=MAX_PAGE_SIZE))
        calls = []
        for summary in active.calls:
            since = max(0.0, summary.duration_s - SPARKLINE_S)
            recent = queries.emotions(summary.call_id, since_s=since, summary=summary)
            channels: dict[int, dict[str, Any]] = {}
            for e in recent:
                ch = channels.setdefault(
                    e.channel,
                    {"channel": e.channel, "role": pb.Role.Name(e.role), "t_s": [], "anger": [], "disappointment": []},
                )
                ch["t_s"].append(round((e.start_s + e.end_s) / 2, 2))
                ch["anger"].append(round(e.anger, 3))
                ch["disappointment"].append(round(e.disappointment, 3))
            calls.append({"summary": as_json(summary), "channels": [channels[k] for k in sorted(channels)]})
        return {
            "calls": calls,
            "ended": ended_with_open_alerts(),
            "ended_window_s": live_ended_s,
            "sparkline_s": SPARKLINE_S,
            "server_time": time.time(),
        }

    def ended_with_open_alerts() -> list[dict[str, Any]]:
        """Calls no longer in progress that still have open alerts: when each ended and whether that is within
        the live board's window (the board shows those apart from live calls, and counts the rest)."""
        flagged = queries.list_calls(pb.ListCallsRequest(unacknowledged_only=True, page_size=MAX_PAGE_SIZE))
        now = time.time()
        out = []
        for s in flagged.calls:
            if s.status == pb.ACTIVE:
                continue
            ago = max(0.0, now - s.ended_at.ToSeconds()) if s.HasField("ended_at") else float("inf")
            out.append(
                {
                    "call_id": s.call_id,
                    "status": pb.CallStatus.Name(s.status),
                    "ended_at": as_json(s).get("ended_at", ""),
                    "ended_s_ago": round(min(ago, 1e9), 1),
                    "on_board": ago <= live_ended_s,
                    "open_alert_count": s.open_alert_count,
                }
            )
        return out

    # ---- alerts -----------------------------------------------------------------------------------------
    @app.get("/api/alerts", summary="Stored alerts, newest first")
    def list_alerts(
        who: Annotated[Principal, needs(Permission.ALERTS)], open_only: bool = False, call_id: str = ""
    ) -> dict[str, Any]:
        found = queries.alerts(call_id=call_id, open_only=open_only)
        return {"alerts": [as_json(a) for a in reversed(found)]}

    @app.get(
        "/api/alerts/stream",
        summary="Server-sent events: a snapshot of the open alerts, then every new or changed alert, and pings",
    )
    async def alert_stream(
        who: Annotated[Principal, needs(Permission.ALERTS)],
        request: Request,
        call_id: str = "",
        queue: str = "",
        agent: str = "",
        min_level: str = "",
        include_unpaged: bool = False,
    ) -> StreamingResponse:
        alert_filter = AlertFilter(
            call_id=call_id,
            queue=queue,
            agent=agent,
            min_level=Level(level_value(min_level, "min_level") or Level.LOW),
            include_unpaged=include_unpaged,
        )

        # before the response starts (a database error is then a 503), off the event loop (it reads the database)
        sub, open_alerts = await asyncio.to_thread(alerts.subscribe, alert_filter)

        async def events() -> AsyncIterator[str]:
            # Every (re)connection starts with the whole open set (`snapshot`): the board replaces what it
            # shows with it, so alerts raised during a gap appear and alerts acknowledged or closed during it
            # go, whatever the gap was (a dropped network, a proxy's 502, a server restart: no change log to
            # replay). Event ids number this stream's events; `ping` tells the board the stream is alive.
            sent: dict[str, tuple[int, bool]] = {}
            stream = uuid.uuid4().hex[:8]
            n = 0
            last_write = time.monotonic()
            try:
                for alert in open_alerts:
                    sent[alert.alert_id] = alert.freshness
                snapshot = {"alerts": [as_json(convert.alert_pb(a)) for a in open_alerts], "at": time.time()}
                yield f"retry: {SSE_RETRY_MS}\nid: {stream}-0\nevent: snapshot\ndata: {json.dumps(snapshot, ensure_ascii=False)}\n\n"
                while not app.state.closing and not await request.is_disconnected():
                    alert = sub.get(timeout_s=0)
                    if sub.overflowed:
                        yield "event: overflow\ndata: {}\n\n"  # the page reconnects and gets a new snapshot
                        return
                    if alert is None:
                        if time.monotonic() - last_write > SSE_PING_S:
                            last_write = time.monotonic()
                            yield f"event: ping\ndata: {json.dumps({'at': time.time()})}\n\n"
                        await asyncio.sleep(SSE_POLL_S)
                        continue
                    if sent.get(alert.alert_id, (0, False)) >= alert.freshness:
                        continue
                    sent[alert.alert_id] = alert.freshness
                    last_write = time.monotonic()
                    n += 1
                    data = json.dumps(as_json(convert.alert_pb(alert)), ensure_ascii=False)
                    yield f"id: {stream}-{n}\nevent: alert\ndata: {data}\n\n"
            finally:
                alerts.unsubscribe(sub)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @app.post("/api/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert (who, optional note)")
    def acknowledge(
        who: Annotated[Principal, needs(Permission.ACKNOWLEDGE)],
        alert_id: str,
        by: Annotated[str, Body()] = "",
        note: Annotated[str, Body()] = "",
    ) -> dict[str, Any]:
        return as_json(queries.acknowledge(alert_id, by, note, who=who))
