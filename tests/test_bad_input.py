"""Malformed streams get a precise status and message; the server stays up and other calls are unaffected."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from callguard.v1 import callguard_pb2 as pb

from service.client import StreamOptions, fetch_audio, requests_for
from tests.calls import conversation, pick
from tests.textmetrics import wer

MULAW_STEREO = pb.CallConfig(encoding=pb.MULAW, sample_rate_hz=8000, channel_count=2)
FRAME = b"\xff" * 320  # 20 ms of mu-law stereo silence


def config(**changes) -> pb.StreamCallRequest:
    cfg = pb.CallConfig()
    cfg.CopyFrom(MULAW_STEREO)
    for key, value in changes.items():
        if key == "metadata":
            cfg.metadata.update(value)
        elif key == "channel_roles":
            cfg.channel_roles.extend(value)
        else:
            setattr(cfg, key, value)
    return pb.StreamCallRequest(config=cfg)


def audio(data: bytes) -> pb.StreamCallRequest:
    return pb.StreamCallRequest(audio=pb.AudioFrame(data=data))


def run(stub, requests: list[pb.StreamCallRequest]) -> tuple[list[pb.CallEvent], grpc.RpcError | None]:
    events: list[pb.CallEvent] = []
    try:
        for event in stub.StreamCall(iter(requests), timeout=60):
            events.append(event)
    except grpc.RpcError as error:
        return events, error
    return events, None


CASES = [
    ("audio before config", [audio(FRAME)], grpc.StatusCode.INVALID_ARGUMENT, "first message must carry config"),
    ("empty stream", [], grpc.StatusCode.INVALID_ARGUMENT, "closed before its CallConfig"),
    ("unknown encoding", [config(encoding=0)], grpc.StatusCode.INVALID_ARGUMENT, "encoding 0 is not supported"),
    ("encoding out of range", [config(encoding=42)], grpc.StatusCode.INVALID_ARGUMENT, "encoding 42"),
    ("three channels", [config(channel_count=3)], grpc.StatusCode.INVALID_ARGUMENT, "channel_count=3"),
    ("zero channels", [config(channel_count=0)], grpc.StatusCode.INVALID_ARGUMENT, "channel_count=0"),
    ("no sample rate", [config(sample_rate_hz=0)], grpc.StatusCode.INVALID_ARGUMENT, "sample_rate_hz=0"),
    ("roles do not match channels", [config(channel_roles=[pb.AGENT])], grpc.StatusCode.INVALID_ARGUMENT, "1 entries"),
    ("path traversal call id", [config(call_id="../../etc/passwd")], grpc.StatusCode.INVALID_ARGUMENT, "call_id"),
    ("unknown language", [config(language="klingon")], grpc.StatusCode.INVALID_ARGUMENT, "language 'klingon'"),
    (
        "too much metadata",
        [config(metadata={f"k{i}": "v" for i in range(40)})],
        grpc.StatusCode.INVALID_ARGUMENT,
        "40 entries",
    ),
    (
        "half a sample",
        [config(), audio(FRAME), audio(b"\xff" * 3)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "whole number of samples",
    ),
    (
        "odd PCM frame",
        [config(encoding=pb.LINEAR16, channel_count=1), audio(b"\x00" * 7)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "multiple of 2 bytes",
    ),
    ("empty frame", [config(), audio(b"")], grpc.StatusCode.INVALID_ARGUMENT, "empty"),
    ("second config", [config(), audio(FRAME), config()], grpc.StatusCode.INVALID_ARGUMENT, "second CallConfig"),
    ("oversized frame", [config(), audio(b"\xff" * 16000 * 2)], grpc.StatusCode.INVALID_ARGUMENT, "over the limit"),
    ("empty request", [config(), pb.StreamCallRequest()], grpc.StatusCode.INVALID_ARGUMENT, "neither config nor audio"),
    # larger than the transport allows (4 MiB): refused by gRPC itself before our code sees it
    ("message over 4 MiB", [config(), audio(b"\xff" * (5 * 1024 * 1024))], grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
]


@pytest.fixture(scope="module")
def good_call(ravdess):
    clips = pick(ravdess, speaker="ravdess_10", emotion="neutral", n=2) + pick(
        ravdess, speaker="ravdess_11", emotion="neutral", n=2
    )
    return conversation([(0, clips[0]), (1, clips[2]), (0, clips[1]), (1, clips[3])])


def test_bad_streams_are_refused_while_a_good_call_goes_on(stub, good_call) -> None:
    result: dict = {}

    def good() -> None:  # a real call, paced in real time, running through all the bad ones
        result["events"] = list(
            stub.StreamCall(requests_for(good_call.audio, StreamOptions(realtime=True)), timeout=120)
        )

    thread = threading.Thread(target=good)
    thread.start()
    time.sleep(0.5)
    failures = []
    for name, requests, code, message in CASES:
        events, error = run(stub, requests)
        if error is None or error.code() != code or message not in (error.details() or ""):
            failures.append((name, error and error.code(), error and error.details()))
    thread.join()
    assert not failures, failures

    events = result["events"]
    assert events[-1].ended.status == pb.COMPLETED
    call_id = events[0].accepted.call_id
    _, stored = fetch_audio(stub, call_id)
    assert stored == good_call.audio.data  # byte-identical despite everything else
    for channel in (0, 1):
        text = " ".join(
            e.transcript.text
            for e in events
            if e.WhichOneof("event") == "transcript" and e.transcript.channel == channel
        )
        assert wer(good_call.reference(channel), text) <= 0.2


def test_invalid_frame_keeps_the_audio_before_it(stub) -> None:
    good = [audio(bytes([i % 256]) * 320) for i in range(20)]
    events, error = run(stub, [config(call_id="bad-frame-call"), *good, audio(b"\x01" * 5)])
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert events[0].accepted.call_id == "bad-frame-call"
    deadline = time.monotonic() + 30
    while (summary := stub.GetCall(pb.GetCallRequest(call_id="bad-frame-call")).summary).status == pb.ACTIVE:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert summary.status == pb.INCOMPLETE and "invalid input" in summary.end_reason
    _, stored = fetch_audio(stub, "bad-frame-call")
    assert stored == b"".join(r.audio.data for r in good)


def test_a_call_refused_before_any_audio_is_not_stored(stub) -> None:
    """Refused at its first frame (or closed with no audio): no 0-second INCOMPLETE call in QA lists."""
    events, error = run(stub, [config(call_id="refused-at-once"), audio(b"\x01" * 5)])
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert events[0].accepted.call_id == "refused-at-once"
    closed, closed_error = run(stub, [config(call_id="closed-at-once")])  # accepted, then closed, no audio
    assert closed_error is None and closed[-1].ended.duration_s == 0
    deadline = time.monotonic() + 30
    for call_id in ("refused-at-once", "closed-at-once"):
        while True:
            try:
                stub.GetCall(pb.GetCallRequest(call_id=call_id))
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.NOT_FOUND
                break
            assert time.monotonic() < deadline, f"{call_id} is still stored"
            time.sleep(0.1)
    listed = {c.call_id for c in stub.ListCalls(pb.ListCallsRequest(page_size=500)).calls}
    assert not {"refused-at-once", "closed-at-once"} & listed


def test_duplicate_call_id_is_refused_and_the_first_call_untouched(stub) -> None:
    events, error = run(stub, [config(call_id="dup-call"), audio(FRAME * 10)])
    assert error is None and events[-1].ended.status == pb.COMPLETED
    _, error = run(stub, [config(call_id="dup-call"), audio(b"\x00" * 320)])
    assert error is not None and error.code() == grpc.StatusCode.ALREADY_EXISTS
    _, stored = fetch_audio(stub, "dup-call")
    assert stored == FRAME * 10


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda s: s.GetCall(pb.GetCallRequest(call_id="no-such-call")), grpc.StatusCode.NOT_FOUND),
        (lambda s: list(s.GetCallAudio(pb.GetCallAudioRequest(call_id="no-such-call"))), grpc.StatusCode.NOT_FOUND),
        (lambda s: s.GetCall(pb.GetCallRequest(call_id="../../etc/passwd")), grpc.StatusCode.NOT_FOUND),
        (lambda s: s.ListCalls(pb.ListCallsRequest(page_size=10_000)), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda s: s.ListCalls(pb.ListCallsRequest(page_token="garbage")), grpc.StatusCode.INVALID_ARGUMENT),
        (lambda s: s.ListCalls(pb.ListCallsRequest(status=77)), grpc.StatusCode.INVALID_ARGUMENT),
        (
            lambda s: list(s.GetCallAudio(pb.GetCallAudioRequest(call_id="dup-call", chunk_bytes=-5))),
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ],
)
def test_qa_calls_with_bad_arguments(stub, call, code) -> None:
    with pytest.raises(grpc.RpcError) as info:
        call(stub)
    assert info.value.code() == code and info.value.details()
