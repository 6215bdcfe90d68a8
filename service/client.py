"""Client side of the API: what a media gateway does (config, then paced frames) and QA look-ups."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc

from service.audio.formats import Encoding
from service.audio.wavfile import WavAudio

ENCODING_PB = {Encoding.LINEAR16: pb.LINEAR16, Encoding.MULAW: pb.MULAW, Encoding.ALAW: pb.ALAW}
ROLE_BY_NAME = {"customer": pb.CUSTOMER, "agent": pb.AGENT}


@dataclass
class StreamOptions:
    call_id: str = ""
    language: str = "auto"
    roles: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    frame_ms: int = 20
    realtime: bool = False
    speed: float = 1.0  # with realtime: how many times faster than real time to send (tests, load tools)
    interim_results: bool = False
    resume: bool = False  # continue an INCOMPLETE call with this call_id
    start_byte: int = 0  # send the audio from here (a resumed call: the bytes the server already has)


@dataclass(frozen=True)
class Connection:
    """How to reach the service: its address, an API token, and TLS files (all optional)."""

    server: str
    token: str = ""
    tls_ca_file: str = ""  # the server's CA (TLS); with tls_cert_file/tls_key_file: mTLS
    tls_cert_file: str = ""
    tls_key_file: str = ""


class _TokenInterceptor(
    grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor, grpc.StreamStreamClientInterceptor
):
    """Adds the token to every call (an interceptor, not call credentials: those gRPC only sends over TLS)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        metadata = [*(details.metadata or ()), ("authorization", f"Bearer {self._token}")]
        return details._replace(metadata=metadata)  # type: ignore[attr-defined]

    def intercept_unary_unary(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), request)

    def intercept_stream_stream(self, continuation, details, requests):  # type: ignore[no-untyped-def]
        return continuation(self._details(details), requests)


def open_channel(conn: Connection) -> grpc.Channel:
    if conn.tls_ca_file or conn.tls_cert_file:
        read = lambda path: Path(path).read_bytes() if path else None  # noqa: E731
        creds = grpc.ssl_channel_credentials(read(conn.tls_ca_file), read(conn.tls_key_file), read(conn.tls_cert_file))
        channel = grpc.secure_channel(conn.server, creds)
    else:
        channel = grpc.insecure_channel(conn.server)
    return grpc.intercept_channel(channel, _TokenInterceptor(conn.token)) if conn.token else channel


def connect(server: str | Connection) -> pb_grpc.CallMonitorStub:
    conn = server if isinstance(server, Connection) else Connection(server)
    return pb_grpc.CallMonitorStub(open_channel(conn))


def config_for(audio: WavAudio, options: StreamOptions) -> pb.CallConfig:
    fmt = audio.format
    return pb.CallConfig(
        call_id=options.call_id,
        encoding=ENCODING_PB[fmt.encoding],
        sample_rate_hz=fmt.sample_rate_hz,
        channel_count=fmt.channel_count,
        channel_roles=[ROLE_BY_NAME[r] for r in options.roles],
        language=options.language,
        metadata=options.metadata,
        interim_results=options.interim_results,
        resume=options.resume,
    )


def requests_for(
    audio: WavAudio,
    options: StreamOptions,
    *,
    sent_log: list[tuple[float, float]] | None = None,
    start_byte: Callable[[], int] | None = None,
) -> Iterator[pb.StreamCallRequest]:
    """Config, then frames of `frame_ms`; with `realtime`, each frame is sent when its audio would have
    been spoken (`speed` times faster if given). `sent_log`, if given, receives (call time at the frame's end,
    wall-clock time sent). `start_byte`, called after the config is sent, says where the audio starts
    (a resumed call: after the bytes the server already has)."""
    yield pb.StreamCallRequest(config=config_for(audio, options))
    fmt = audio.format
    step = max(1, fmt.sample_rate_hz * options.frame_ms // 1000) * fmt.frame_bytes
    begin = start_byte() if start_byte else options.start_byte
    started = time.monotonic()
    first = begin - begin % fmt.frame_bytes
    for offset in range(first, len(audio.data), step):
        frame = audio.data[offset : offset + step]
        end_s = fmt.duration_s(offset + len(frame))
        if options.realtime:
            delay = started + fmt.duration_s(offset - first) / options.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield pb.StreamCallRequest(audio=pb.AudioFrame(data=frame))
        if sent_log is not None:
            sent_log.append((end_s, time.monotonic()))


def stream_call(
    stub: pb_grpc.CallMonitorStub, audio: WavAudio, options: StreamOptions, *, timeout_s: float | None = None
) -> Iterator[pb.CallEvent]:
    """Stream a call; with `options.resume`, the audio waits for CallAccepted and continues from the call time
    the server says it has (so a gateway needs no other permission than streaming)."""
    if not options.resume:
        yield from stub.StreamCall(requests_for(audio, options), timeout=timeout_s)
        return
    accepted = threading.Event()
    resumed_from = [0.0]

    def start_byte() -> int:
        accepted.wait(timeout=30)
        return round(resumed_from[0] * audio.format.bytes_per_second)

    events = stub.StreamCall(requests_for(audio, options, start_byte=start_byte), timeout=timeout_s)
    try:
        for event in events:
            if event.WhichOneof("event") == "accepted":
                resumed_from[0] = event.accepted.resumed_from_s
                accepted.set()
            yield event
    finally:
        accepted.set()


def fetch_audio(stub: pb_grpc.CallMonitorStub, call_id: str) -> tuple[pb.AudioFormat, bytes]:
    fmt, parts = None, []
    for chunk in stub.GetCallAudio(pb.GetCallAudioRequest(call_id=call_id)):
        if chunk.HasField("format"):
            fmt = chunk.format
        parts.append(chunk.data)
    if fmt is None:
        raise ValueError(f"the server sent no audio format for call {call_id}")
    return fmt, b"".join(parts)
