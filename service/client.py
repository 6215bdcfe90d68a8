"""Client side of the API: what a media gateway does (config, then paced frames) and QA look-ups."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

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


def connect(server: str) -> pb_grpc.CallMonitorStub:
    channel = grpc.insecure_channel(server)
    return pb_grpc.CallMonitorStub(channel)


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
    )


def requests_for(
    audio: WavAudio, options: StreamOptions, *, sent_log: list[tuple[float, float]] | None = None
) -> Iterator[pb.StreamCallRequest]:
    """Config, then frames of `frame_ms`; with `realtime`, each frame is sent when its audio would have
    been spoken (`speed` times faster if given). `sent_log`, if given, receives (call time at the frame's end, wall-clock time sent)."""
    yield pb.StreamCallRequest(config=config_for(audio, options))
    fmt = audio.format
    step = max(1, fmt.sample_rate_hz * options.frame_ms // 1000) * fmt.frame_bytes
    started = time.monotonic()
    for offset in range(0, len(audio.data), step):
        frame = audio.data[offset : offset + step]
        end_s = fmt.duration_s(offset + len(frame))
        if options.realtime:
            delay = started + fmt.duration_s(offset) / options.speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield pb.StreamCallRequest(audio=pb.AudioFrame(data=frame))
        if sent_log is not None:
            sent_log.append((end_s, time.monotonic()))


def stream_call(
    stub: pb_grpc.CallMonitorStub, audio: WavAudio, options: StreamOptions, *, timeout_s: float | None = None
) -> Iterator[pb.CallEvent]:
    return stub.StreamCall(requests_for(audio, options), timeout=timeout_s)


def fetch_audio(stub: pb_grpc.CallMonitorStub, call_id: str) -> tuple[pb.AudioFormat, bytes]:
    fmt, parts = None, []
    for chunk in stub.GetCallAudio(pb.GetCallAudioRequest(call_id=call_id)):
        if chunk.HasField("format"):
            fmt = chunk.format
        parts.append(chunk.data)
    if fmt is None:
        raise ValueError(f"the server sent no audio format for call {call_id}")
    return fmt, b"".join(parts)
