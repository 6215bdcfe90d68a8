"""The gRPC CallMonitor service: protobuf in and out, domain errors to status codes. No call logic here."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator

import grpc
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc

from service import convert, metrics
from service import events as ev
from service.auth import Authenticator, Permission, PermissionDenied, Principal, Unauthenticated
from service.calls import CallManager, new_call_id
from service.domain import OPEN_ALERTS_HEADER, CallStatus
from service.errors import (
    CallExists,
    CallguardError,
    CallNotFound,
    ConfigError,
    InvalidInput,
    ModelError,
    Overloaded,
    RetryLater,
    ServerFault,
    ShuttingDown,
    StorageUnavailable,
)
from service.escalation.bus import AlertNotFound, AlreadyAcknowledged
from service.queries import Queries
from service.session import CallSession
from service.undecodable import require_decoded

log = logging.getLogger(__name__)

# The one place domain errors become gRPC status codes.
STATUS_BY_ERROR: list[tuple[type[CallguardError], grpc.StatusCode]] = [
    (InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (CallExists, grpc.StatusCode.ALREADY_EXISTS),
    (CallNotFound, grpc.StatusCode.NOT_FOUND),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ShuttingDown, grpc.StatusCode.UNAVAILABLE),
    (StorageUnavailable, grpc.StatusCode.UNAVAILABLE),
    (ModelError, grpc.StatusCode.FAILED_PRECONDITION),
    (ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (ServerFault, grpc.StatusCode.INTERNAL),
    (AlertNotFound, grpc.StatusCode.NOT_FOUND),
    (AlreadyAcknowledged, grpc.StatusCode.FAILED_PRECONDITION),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
]
DEFAULT_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 1024 * 1024
_CANCEL_GRACE_S = 0.5


def status_for(error: CallguardError) -> grpc.StatusCode:
    for kind, code in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return code
    return grpc.StatusCode.INTERNAL


def abort(context: grpc.ServicerContext, error: CallguardError) -> None:
    metrics.ERRORS.labels("grpc", status_for(error).name).inc()
    if isinstance(error, RetryLater):
        context.set_trailing_metadata((("retry-after-s", f"{error.retry_after_s:g}"),))
    context.abort(status_for(error), str(error))


def _grpc_errors(method: Callable) -> Callable:
    """Turn domain errors into their status; anything unexpected into INTERNAL with a logged traceback."""

    @functools.wraps(method)
    def wrapper(self: CallMonitorServicer, request: object, context: grpc.ServicerContext):  # type: ignore[no-untyped-def]
        try:
            require_decoded(request)
            return method(self, request, context)
        except CallguardError as error:
            abort(context, error)
        except Exception:
            log.exception("%s failed", method.__name__)
            metrics.ERRORS.labels("grpc", "INTERNAL").inc()
            context.abort(grpc.StatusCode.INTERNAL, "internal error; the server log has the details")

    return wrapper


class CallMonitorServicer(pb_grpc.CallMonitorServicer):
    def __init__(self, manager: CallManager) -> None:
        self._manager = manager
        self._deps = manager.deps
        self._queries = Queries(manager.deps)
        self._auth = Authenticator(manager.deps.store, required=manager.deps.settings.require_auth)

    def _allow(self, context: grpc.ServicerContext, permission: Permission) -> Principal:
        """Every RPC starts here: the caller's token must grant `permission` (raises otherwise)."""
        metadata = dict(context.invocation_metadata())
        return self._auth.check(metadata.get("authorization"), permission)

    # ---- StreamCall ----------------------------------------------------------------------------------
    def StreamCall(self, request_iterator: Iterator[pb.StreamCallRequest], context: grpc.ServicerContext):
        try:
            self._allow(context, Permission.STREAM)
            session = self._open(request_iterator)
        except CallguardError as error:
            abort(context, error)
            return
        gone = threading.Event()
        context.add_callback(gone.set)
        threading.Thread(
            target=self._read_audio,
            args=(request_iterator, session, gone),
            name=f"reader-{session.spec.call_id}",
            daemon=True,
        ).start()
        call_id = session.spec.call_id
        while not gone.is_set():
            stamped = session.next_event(timeout_s=0.25)
            if stamped is None:
                continue
            if isinstance(stamped.event, ev.Failed):
                abort(context, stamped.event.error)
                return
            yield convert.event_pb(call_id, stamped)
            if isinstance(stamped.event, ev.Ended):
                return

    def _open(self, request_iterator: Iterator[pb.StreamCallRequest]) -> CallSession:
        first = next(request_iterator, None)
        require_decoded(first)
        if first is None:
            raise InvalidInput("the stream closed before its CallConfig; send a config as the first message")
        if first.WhichOneof("request") != "config":
            raise InvalidInput("the first message must carry config (a CallConfig), not audio")
        spec = convert.call_spec(
            first.config,
            call_id=first.config.call_id or new_call_id(),
            allowed_languages=self._deps.settings.languages,
        )
        return self._manager.start(spec)

    @staticmethod
    def _read_audio(
        request_iterator: Iterator[pb.StreamCallRequest], session: CallSession, gone: threading.Event
    ) -> None:
        """Runs in its own thread so storing audio never waits for the client to read events."""
        try:
            for request in request_iterator:
                require_decoded(request)
                kind = request.WhichOneof("request")
                if kind == "config":
                    raise InvalidInput("a second CallConfig was sent; a stream carries exactly one call")
                if kind != "audio":
                    raise InvalidInput("a StreamCallRequest carried neither config nor audio")
                session.ingest(request.audio.data)
        except CallguardError as error:
            session.fail(error)
            return
        except grpc.RpcError:  # raised by the request iterator when the client goes away mid-stream
            session.end_input(CallStatus.INCOMPLETE, "client disconnected")
            return
        except Exception as exc:  # e.g. the disk: keep what was stored, tell the client, keep serving others
            log.exception("call %s: failed to take audio", session.spec.call_id)
            session.fail(
                ServerFault(
                    f"the server could not store audio ({type(exc).__name__}); the call was kept up to here and marked incomplete"
                )
            )
            return
        # A cancelled stream can also end the iterator like a half-close; gRPC reports the cancellation a moment
        # later through the RPC's done-callback, so give it that moment before calling the call complete.
        if gone.wait(_CANCEL_GRACE_S):
            session.end_input(CallStatus.INCOMPLETE, "client disconnected")
        else:
            session.end_input(CallStatus.COMPLETED)

    # ---- QA --------------------------------------------------------------------------------------------
    @_grpc_errors
    def ListCalls(self, request: pb.ListCallsRequest, context: grpc.ServicerContext) -> pb.ListCallsResponse:
        self._allow(context, Permission.LIST_CALLS)
        return self._queries.list_calls(request)

    @_grpc_errors
    def GetCall(self, request: pb.GetCallRequest, context: grpc.ServicerContext) -> pb.Call:
        who = self._allow(context, Permission.READ_CALL)
        call = self._queries.get_call(request.call_id)
        self._queries.audit(who, "read", request.call_id, "gRPC GetCall")
        return call

    # ---- supervisors ---------------------------------------------------------------------------------
    def SubscribeAlerts(self, request: pb.SubscribeAlertsRequest, context: grpc.ServicerContext):
        try:
            require_decoded(request)
            self._allow(context, Permission.ALERTS)
            alert_filter = convert.alert_filter(request)
            hub = self._deps.alerts
            sub, open_alerts = hub.subscribe(alert_filter)
        except CallguardError as error:
            abort(context, error)
            return
        sent: dict[str, tuple[int, bool]] = {}  # alert id -> freshness sent: the open ones may also be queued
        try:
            # how many of the first messages are the alerts already open (a client can say so, then "live")
            context.send_initial_metadata(((OPEN_ALERTS_HEADER, str(len(open_alerts))),))
            for alert in open_alerts:
                sent[alert.alert_id] = alert.freshness
                yield convert.alert_pb(alert)
            while context.is_active():
                alert = sub.get(timeout_s=0.25)
                if sub.overflowed:
                    context.abort(
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "this subscriber fell too far behind; subscribe again (open alerts are resent first)",
                    )
                if alert is None or sent.get(alert.alert_id, (0, False)) >= alert.freshness:
                    continue
                sent[alert.alert_id] = alert.freshness
                yield convert.alert_pb(alert)
        finally:
            hub.unsubscribe(sub)

    @_grpc_errors
    def AcknowledgeAlert(self, request: pb.AcknowledgeAlertRequest, context: grpc.ServicerContext) -> pb.Alert:
        who = self._allow(context, Permission.ACKNOWLEDGE)
        return self._queries.acknowledge(request.alert_id, request.by, request.note, who=who)

    @_grpc_errors
    def GetCallAudio(self, request: pb.GetCallAudioRequest, context: grpc.ServicerContext):
        who = self._allow(context, Permission.LISTEN)
        chunk = request.chunk_bytes or DEFAULT_CHUNK_BYTES
        if not 1 <= chunk <= MAX_CHUNK_BYTES:
            raise InvalidInput(f"chunk_bytes {request.chunk_bytes} is outside 1-{MAX_CHUNK_BYTES}")
        record = self._deps.store.get_call(request.call_id)
        total = self._deps.audio.size(request.call_id)
        chunks = self._deps.audio.read(request.call_id, chunk_bytes=chunk, limit=total) if total else iter(())
        self._queries.audit(who, "listen", request.call_id, "gRPC GetCallAudio")
        return self._audio_chunks(convert.audio_format_pb(record, total), chunks)

    @staticmethod
    def _audio_chunks(fmt: pb.AudioFormat, chunks: Iterator[bytes]) -> Iterator[pb.AudioChunk]:
        offset = 0
        first = pb.AudioChunk(format=fmt, offset=0)
        for data in chunks:
            msg = first if offset == 0 else pb.AudioChunk(offset=offset)
            msg.data = data
            offset += len(data)
            yield msg
        if offset == 0:
            yield first
