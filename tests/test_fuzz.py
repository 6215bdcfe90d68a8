"""Property-based fuzzing (hypothesis) of both front doors of the running server: random and malformed call
configs, frames of any size, messages out of order, hostile call ids and filters, odd HTTP ranges. The server
answers every one with a deliberate status (never UNKNOWN / a 500), keeps serving, and a real call streamed at
the same time is stored byte for byte as it was sent."""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request

import grpc
import pytest
from callguard.v1 import callguard_pb2 as pb
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.client import StreamOptions, fetch_audio, requests_for
from tests.calls import conversation, pick

# What a bad request may legitimately get; INTERNAL, UNKNOWN or a hang would be a bug.
REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
}
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

hostile_text = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["../../etc/passwd", "a/b", ".hidden", "x' OR '1'='1", "'); DROP TABLE calls; --", "%", "_",
                     "\\", "\x00", "🙂" * 30, "a" * 65, "CON", "call id with spaces"]),
)  # fmt: skip
configs = st.builds(
    pb.CallConfig,
    call_id=hostile_text,
    encoding=st.integers(-1, 5),
    sample_rate_hz=st.one_of(st.sampled_from([8000, 16000, 44100, 48000]), st.integers(-10, 200_000)),
    channel_count=st.integers(-1, 4),
    channel_roles=st.lists(st.integers(0, 3), max_size=3),
    language=st.one_of(st.sampled_from(["", "auto", "zh", "en", "zh,en", "xx", "zh,,en"]), st.text(max_size=20)),
    metadata=st.dictionaries(st.text(max_size=70), st.text(max_size=1100), max_size=35),
    interim_results=st.booleans(),
    resume=st.booleans(),
)
frames = st.lists(st.one_of(st.binary(max_size=3000), st.sampled_from([b"", b"\x01", b"\xff" * 160_001])), max_size=6)


def _outcome(stub, requests) -> grpc.StatusCode:
    try:
        for _ in stub.StreamCall(iter(requests), timeout=30):
            pass
        return grpc.StatusCode.OK
    except grpc.RpcError as err:
        return err.code()


def _witness(stub, ravdess, result: dict) -> None:
    """A well-behaved call streamed while the fuzzing goes on."""
    clips = pick(ravdess, speaker="ravdess_19", emotion="neutral", n=3)
    call = conversation([(0, clips[0]), (1, clips[1]), (0, clips[2])])
    options = StreamOptions(call_id="fuzz-witness", language="en", realtime=True, speed=2.0)
    events = list(stub.StreamCall(requests_for(call.audio, options), timeout=300))
    result.update(sent=call.audio.data, ended=events[-1].ended.status)


def test_grpc_stream_fuzz_never_crashes_or_touches_other_calls(stub, address, ravdess) -> None:
    witness: dict = {}
    thread = threading.Thread(target=_witness, args=(stub, ravdess, witness))
    thread.start()

    @FUZZ
    @given(config=configs, audio=frames, order=st.sampled_from(["config-first", "audio-first", "two-configs", "empty"]))
    def one_stream(config: pb.CallConfig, audio: list[bytes], order: str) -> None:
        if config.call_id == "fuzz-witness":
            config.call_id = "fuzz-other"
        head = [pb.StreamCallRequest(config=config)]
        body = [pb.StreamCallRequest(audio=pb.AudioFrame(data=d)) for d in audio]
        requests = {
            "config-first": head + body,
            "audio-first": body + head,
            "two-configs": head + body + head,
            "empty": [],
        }[order]
        code = _outcome(stub, requests)
        assert code == grpc.StatusCode.OK or code in REFUSALS, (code, order)

    one_stream()
    thread.join(timeout=300)
    assert witness["ended"] == pb.COMPLETED
    _, stored = fetch_audio(stub, "fuzz-witness")
    assert stored == witness["sent"]  # byte-identical, whatever the other streams did
    with grpc.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert health.status == health_pb2.HealthCheckResponse.SERVING


@FUZZ
@given(
    request=st.builds(
        pb.ListCallsRequest,
        page_size=st.integers(-5, 1000),
        page_token=st.one_of(st.just(""), st.text(max_size=40)),
        status=st.integers(-1, 5),
        min_alert_level=st.integers(-1, 5),
        reason=hostile_text,
        agent=hostile_text,
        queue=hostile_text,
        text=hostile_text,
        order=st.integers(-1, 3),
    )
)
def test_list_calls_filters_fuzz(stub, request: pb.ListCallsRequest) -> None:
    try:
        stub.ListCalls(request, timeout=10)
    except grpc.RpcError as err:
        assert err.code() in REFUSALS, err


def _get(base: str, path: str, headers: dict | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(base + path, headers=headers or {}), timeout=10) as res:
            res.read()
            return res.status
    except urllib.error.HTTPError as err:
        return err.code


@FUZZ
@given(
    call_id=hostile_text,
    params=st.dictionaries(
        st.sampled_from(["from", "to", "min_level", "reason", "agent", "queue", "q", "order", "page_size", "page_token",
                         "unacknowledged", "status", "max_points", "open_only"]),
        hostile_text,
        max_size=6,
    ),
    range_header=st.one_of(st.none(), st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30), st.builds("bytes={}-{}".format, st.integers(-5, 10**7),
                                                                       st.integers(-5, 10**7))),
)  # fmt: skip
def test_http_api_fuzz(server, call_id: str, params: dict, range_header: str | None) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    quoted = urllib.parse.quote(call_id, safe="") or "x"
    query = urllib.parse.urlencode(params)
    headers = {"Range": range_header} if range_header else {}
    for path, ok in [
        (f"/api/calls?{query}", {200, 400, 422}),
        (f"/api/analysis.csv?{query}", {200, 400, 404, 422}),
        (f"/api/calls/{quoted}?{query}", {200, 400, 404, 422}),
        (f"/api/calls/{quoted}/timeline?{query}", {200, 400, 404, 422}),
        (f"/api/calls/{quoted}/audio.wav", {200, 206, 400, 404, 416}),
        (f"/api/alerts?{query}", {200, 400, 422}),
    ]:
        status = _get(base, path, headers if path.endswith("audio.wav") else None)
        assert status in ok, (path, status)


def _raw(address: str, method: str, kind: str):  # type: ignore[no-untyped-def]
    """A call that sends bytes as they are (to send what no protobuf library would write)."""
    channel = grpc.insecure_channel(address)
    make = (
        channel.stream_stream if kind == "stream" else channel.unary_unary if kind == "unary" else channel.unary_stream
    )
    return channel, make(f"/callguard.v1.CallMonitor/{method}", request_serializer=lambda b: b,
                         response_deserializer=lambda b: b)  # fmt: skip


@FUZZ
@given(junk=st.binary(min_size=1, max_size=40).filter(lambda b: not _is_utf8(b)))
def test_invalid_utf8_in_string_fields_is_invalid_argument(address, stub, junk: bytes) -> None:
    def field(number: int, payload: bytes) -> bytes:  # a length-delimited protobuf field
        return bytes([number << 3 | 2, len(payload)]) + payload

    requests = {
        ("StreamCall", "stream"): field(1, field(1, junk)),  # StreamCallRequest.config.call_id
        ("ListCalls", "unary"): field(11, junk),  # ListCallsRequest.text
        ("GetCall", "unary"): field(1, junk),  # GetCallRequest.call_id
        ("SubscribeAlerts", "server-stream"): field(2, junk),  # SubscribeAlertsRequest.queue
        ("AcknowledgeAlert", "unary"): field(2, junk),  # AcknowledgeAlertRequest.by
    }
    for (method, kind), body in requests.items():
        channel, call = _raw(address, method, kind)
        try:
            with pytest.raises(grpc.RpcError) as err:
                result = call(iter([body]), timeout=10) if kind == "stream" else call(body, timeout=10)
                if kind != "unary":
                    list(result)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, err.value)
            assert "UTF-8" in err.value.details()
        finally:
            channel.close()
    stub.ListCalls(pb.ListCallsRequest(), timeout=10)  # and the server goes on


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False
