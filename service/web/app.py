"""The web console: three pages (live board, flagged calls, call detail) and the JSON API behind them.

Every answer comes from `service.queries.Queries`, the same code the gRPC API uses, turned into JSON with
protobuf's own mapping; nothing here reads storage its own way. OpenAPI docs are at /docs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import swagger_ui_bundle
from callguard.v1 import callguard_pb2 as pb
from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from service import convert, metrics
from service.auth import OPEN_ACCESS, Authenticator, Permission, PermissionDenied, Principal, Unauthenticated
from service.domain import CallOrder, CallStatus
from service.errors import (
    CallExists,
    CallguardError,
    CallNotFound,
    InvalidInput,
    Overloaded,
    RetryLater,
    ShuttingDown,
    StorageUnavailable,
)
from service.escalation.bus import AlertHub, AlertNotFound, AlreadyAcknowledged
from service.queries import MAX_PAGE_SIZE, Queries
from service.web import analysis
from service.web.common import SESSION_COOKIE, as_json, level_value, needs
from service.web.live_api import add_live_routes
from service.web.timeline import DEFAULT_POINTS, MAX_POINTS, timeline
from service.web.wav_view import RangeNotSatisfiable, WavView, parse_range

STATIC = Path(__file__).resolve().parent / "static"
LISTEN_AUDIT_EVERY_S = 600.0  # one "listen" audit entry per person and call in this long

# The one place domain errors become HTTP statuses (the gRPC mapping is in service/servicer.py).
HTTP_STATUS: list[tuple[type[CallguardError], int]] = [
    (RangeNotSatisfiable, 416),
    (InvalidInput, 400),
    (CallNotFound, 404),
    (AlertNotFound, 404),
    (CallExists, 409),
    (AlreadyAcknowledged, 409),
    (Unauthenticated, 401),
    (PermissionDenied, 403),
    (Overloaded, 503),
    (ShuttingDown, 503),
    (StorageUnavailable, 503),
]


def _unix(value: str | None, name: str) -> float | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{name}={value[:40]!r} is not a date or time such as 2026-11-24 or 2026-11-24T09:30"
        ) from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()  # no zone given: UTC


def list_request(
    *,
    page_size: int = 0,
    page_token: str = "",
    status: str = "",
    started_from: str = "",
    started_to: str = "",
    min_level: str = "",
    reason: str = "",
    unacknowledged: bool = False,
    agent: str = "",
    queue: str = "",
    text: str = "",
    order: str = "newest",
) -> pb.ListCallsRequest:
    """HTTP query parameters -> the gRPC ListCallsRequest (one query language for both)."""
    if order.upper() not in CallOrder.__members__:
        raise InvalidInput(f"order={order[:20]!r} is not one of {', '.join(o.value.lower() for o in CallOrder)}")
    if status and status.upper() not in CallStatus.__members__:
        raise InvalidInput(f"status={status[:20]!r} is not active, completed or incomplete")
    req = pb.ListCallsRequest(
        page_size=page_size,
        page_token=page_token,
        status=pb.CallStatus.Value(status.upper()) if status else pb.CALL_STATUS_UNSPECIFIED,
        min_alert_level=level_value(min_level, "min_level"),
        reason=reason,
        unacknowledged_only=unacknowledged,
        agent=agent,
        queue=queue,
        text=text,
        order=pb.CallOrder.Value(order.upper()),
    )
    for name, value in (("started_from", started_from), ("started_to", started_to)):
        unix = _unix(value, name)
        if unix is not None:
            getattr(req, name).CopyFrom(convert.timestamp(unix))
    return req


class CallFilter:
    """The flagged-calls filter as query parameters (shared by the list and the CSV export)."""

    def __init__(
        self,
        status: Annotated[str, Query(description="active, completed or incomplete")] = "",
        started_from: Annotated[str, Query(alias="from", description="ISO date/time, inclusive (UTC)")] = "",
        started_to: Annotated[str, Query(alias="to", description="ISO date/time, exclusive (UTC)")] = "",
        min_level: Annotated[str, Query(description="LOW (any flagged call), MEDIUM or HIGH")] = "",
        reason: Annotated[str, Query(description="alert reason code, e.g. THREAT_PHRASE")] = "",
        unacknowledged: Annotated[bool, Query(description="only calls with an alert still open")] = False,
        agent: str = "",
        queue: str = "",
        q: Annotated[str, Query(description="text in the call id, metadata or transcript")] = "",
        order: Annotated[
            str, Query(description="newest, peak_anger, overtalk, interruptions, longest_silence or agent_talk_share")
        ] = "newest",
    ) -> None:
        self.kwargs = dict(
            status=status,
            started_from=started_from,
            started_to=started_to,
            min_level=min_level,
            reason=reason,
            unacknowledged=unacknowledged,
            agent=agent,
            queue=queue,
            text=q,
            order=order,
        )

    def request(self, page_size: int = 0, page_token: str = "") -> pb.ListCallsRequest:
        return list_request(page_size=page_size, page_token=page_token, **self.kwargs)


class ListenLog:
    """A player fetches a call's audio in many range requests, starting anywhere; the audit log gets one
    "listen" per person and call every `every_s`, whatever range came first."""

    def __init__(self, every_s: float = LISTEN_AUDIT_EVERY_S) -> None:
        self._every_s = every_s
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def due(self, who: Principal, call_id: str) -> bool:
        with self._lock:
            return time.monotonic() - self._last.get((who.token_id or who.name, call_id), -1e18) >= self._every_s

    def logged(self, who: Principal, call_id: str) -> None:
        """Called once the audit entry is written (if writing it failed, the next request tries again)."""
        now = time.monotonic()
        with self._lock:
            if len(self._last) > 10000:  # forget the old ones
                self._last = {k: t for k, t in self._last.items() if now - t < self._every_s}
            self._last[(who.token_id or who.name, call_id)] = now


def create_app(
    queries: Queries,
    alerts: AlertHub,
    auth: Authenticator,
    *,
    audio_view: Any,
    secure: bool = False,
    live_ended_s: float = 1800.0,
) -> FastAPI:
    """`audio_view(call_id) -> WavView` opens a call's stored audio; `secure`: served over TLS (cookie flag);
    `live_ended_s`: how long the live board keeps open alerts of a call that ended (Settings.live_board_ended_s)."""
    app = FastAPI(
        title="Callguard console API",
        description="The JSON behind the Callguard web console; the same data as the gRPC API (callguard.v1).",
        version="1",
        docs_url=None,  # served below from the package: FastAPI's default page loads Swagger UI from a CDN
        redoc_url=None,
    )
    app.state.closing = False
    app.state.auth = auth
    listens = ListenLog()
    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Callguard console API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.exception_handler(CallguardError)
    async def domain_error(request: Request, error: CallguardError) -> JSONResponse:
        status = next((code for kind, code in HTTP_STATUS if isinstance(error, kind)), 500)
        metrics.ERRORS.labels("http", str(status)).inc()
        headers = {}
        if isinstance(error, RangeNotSatisfiable):
            headers["Content-Range"] = f"bytes */{error.total}"
        if isinstance(error, RetryLater):
            headers["Retry-After"] = f"{error.retry_after_s:g}"
        if isinstance(error, Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"error": str(error)}, status_code=status, headers=headers)

    @app.get("/metrics", summary="Prometheus metrics (callguard_*); admin token when auth is on")
    def prometheus(who: Annotated[Principal, needs(Permission.METRICS)]) -> Response:
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    # ---- pages ------------------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def live_page() -> FileResponse:
        return FileResponse(STATIC / "live.html")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    @app.get("/calls", include_in_schema=False)
    def calls_page() -> FileResponse:
        return FileResponse(STATIC / "calls.html")

    @app.get("/calls/{call_id}", include_in_schema=False)
    def call_page(call_id: str) -> FileResponse:
        return FileResponse(STATIC / "call.html")

    # ---- console sign-in: the token goes into an HttpOnly cookie (pages and EventSource cannot set headers)
    @app.post("/api/session", summary="Sign the console in with a token (sets an HttpOnly session cookie)")
    def sign_in(token: Annotated[str, Body(embed=True)]) -> JSONResponse:
        who = auth.authenticate(f"Bearer {token.strip()}")
        response = JSONResponse({"name": who.name, "role": who.role.value})
        response.set_cookie(SESSION_COOKIE, token.strip(), httponly=True, samesite="strict", secure=secure)
        return response

    @app.get("/api/session", summary="Who the console is signed in as, and whether the server requires it")
    def session(request: Request) -> dict[str, Any]:
        cookie = request.cookies.get(SESSION_COOKIE)
        try:
            who = auth.authenticate(f"Bearer {cookie}" if cookie else request.headers.get("authorization"))
        except Unauthenticated:
            return {"signed_in": False, "auth_required": auth.required}
        return {
            "signed_in": who is not OPEN_ACCESS,
            "name": who.name,
            "role": who.role.value,
            "auth_required": auth.required,
        }

    @app.delete("/api/session", summary="Sign the console out")
    def sign_out() -> JSONResponse:
        response = JSONResponse({"signed_in": False})
        response.delete_cookie(SESSION_COOKIE)
        return response

    add_live_routes(app, queries, alerts, live_ended_s=live_ended_s)

    # ---- calls (QA) -------------------------------------------------------------------------------------
    @app.get("/api/calls", summary="Stored calls matching a filter, one page")
    def list_calls(
        who: Annotated[Principal, needs(Permission.LIST_CALLS)],
        f: Annotated[CallFilter, Depends()],
        page_size: int = 25,
        page_token: str = "",
    ) -> dict[str, Any]:
        return as_json(queries.list_calls(f.request(page_size, page_token)))

    @app.get("/api/calls/{call_id}", summary="A stored call: summary, transcript, alerts (emotions optional)")
    def get_call(
        who: Annotated[Principal, needs(Permission.READ_CALL)], call_id: str, emotions: bool = True
    ) -> JSONResponse:
        call = as_json(queries.get_call(call_id, with_emotions=emotions))
        queries.audit(who, "read", call_id, "console")
        return JSONResponse(call)

    @app.get("/api/calls/{call_id}/timeline", summary="Emotion and prosody per speaker, downsampled")
    def get_timeline(
        who: Annotated[Principal, needs(Permission.READ_CALL)], call_id: str, max_points: int = DEFAULT_POINTS
    ) -> JSONResponse:
        if not 10 <= max_points <= MAX_POINTS:
            raise InvalidInput(f"max_points must be 10-{MAX_POINTS}")
        summary = queries.summary(call_id)
        tracks = timeline(queries.emotions(call_id, summary=summary), max_points)
        # Plain lists of numbers: JSONResponse skips FastAPI's per-item encoder (slow on long calls).
        return JSONResponse(
            {"call_id": call_id, "duration_s": summary.duration_s, "tracks": [t.__dict__ for t in tracks]}
        )

    @app.get("/api/calls/{call_id}/analysis", summary="The emotion analysis table of a call (one row per alert)")
    def get_analysis(who: Annotated[Principal, needs(Permission.READ_CALL)], call_id: str) -> dict[str, Any]:
        summary = queries.summary(call_id)
        rows = analysis.rows(summary, *queries.analysis(call_id))
        return {"columns": analysis.COLUMNS, "rows": rows}

    @app.get(
        "/api/response-summary",
        summary="Did responses to customer alerts work, per agent and per queue, over the calls matching a filter",
    )
    def get_response_summary(
        who: Annotated[Principal, needs(Permission.READ_CALL)], f: Annotated[CallFilter, Depends()]
    ) -> dict[str, Any]:
        items, calls, token = [], 0, ""
        while calls < analysis.MAX_SUMMARY_CALLS:
            page = queries.list_calls(f.request(MAX_PAGE_SIZE, token))
            for summary in page.calls:
                if summary.alert_count:
                    alerts, outcomes, _ = queries.analysis(summary.call_id)
                    items += zip(alerts, outcomes, strict=True)
                calls += 1
            token = page.next_page_token
            if not token:
                break
        return {**analysis.response_summary(items), "calls": calls, "complete": not token}

    @app.get("/api/analysis.csv", summary="The emotion analysis table of every call matching a filter, as CSV")
    def export_csv(
        who: Annotated[Principal, needs(Permission.EXPORT)],
        f: Annotated[CallFilter, Depends()],
        call_id: Annotated[str, Query(description="just this call (the other filters are then ignored)")] = "",
    ) -> StreamingResponse:
        def call_rows(summary: pb.CallSummary) -> str:
            queries.audit(who, "export", summary.call_id, "console CSV")
            return analysis.csv_text(analysis.rows(summary, *queries.analysis(summary.call_id)), header=False)

        def lines() -> Iterator[str]:
            yield analysis.csv_text([], header=True)
            if one_call is not None:
                yield call_rows(one_call)
                return
            token = ""
            while True:  # every call in the filter, a page at a time (streamed: memory stays flat)
                page = queries.list_calls(f.request(MAX_PAGE_SIZE, token))
                for summary in page.calls:
                    yield call_rows(summary)
                token = page.next_page_token
                if not token:
                    return

        f.request()  # validate before the response starts
        one_call = queries.summary(call_id) if call_id else None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        headers = {"Content-Disposition": f'attachment; filename="callguard-analysis-{stamp}.csv"'}
        return StreamingResponse(lines(), media_type="text/csv; charset=utf-8", headers=headers)

    @app.get("/api/calls/{call_id}/audio.wav", summary="The call's audio as 16-bit PCM WAV (HTTP ranges)")
    def get_audio(who: Annotated[Principal, needs(Permission.LISTEN)], call_id: str, request: Request) -> Response:
        view: WavView = audio_view(call_id)
        rng = parse_range(request.headers.get("range"), view.size)
        if listens.due(who, call_id):  # any range: a player's seeks within minutes count once
            queries.audit(who, "listen", call_id, "console")
            listens.logged(who, call_id)
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "no-cache"}
        if rng is None:
            start, end, status = 0, view.size - 1, 200
        else:
            (start, end), status = rng, 206
            headers["Content-Range"] = f"bytes {start}-{end}/{view.size}"
        headers["Content-Length"] = str(end - start + 1)
        return StreamingResponse(view.read(start, end), status_code=status, media_type="audio/wav", headers=headers)

    return app
