"""When transcription or analysis cannot keep up, work is shed visibly and no audio is lost.

Two tests, one per bottleneck: with both queues tiny at once, analysis shedding decides how many utterances
ever reach transcription, and whether transcription also sheds becomes a matter of timing."""

from __future__ import annotations

import dataclasses
import threading

import grpc
import pytest
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc

from service.client import StreamOptions, fetch_audio, requests_for
from service.server import create_server
from service.session_deps import SessionDeps
from service.transcription.pool import TranscriptionPool
from tests.calls import conversation, pick
from tests.servers import own_deps


@pytest.fixture()
def tight_server(deps: SessionDeps, tmp_path, request):
    """A second server sharing the loaded model, with the queue sizes the test asks for."""
    transcribe_queue, analysis_queue_s = request.param
    settings = deps.settings.replace(
        transcribe_queue=transcribe_queue, analysis_queue_s=analysis_queue_s, data_dir=tmp_path
    )
    tight = dataclasses.replace(
        own_deps(deps, settings), pool=TranscriptionPool(workers=1, queue_size=transcribe_queue)
    )
    running = create_server(settings, tight)
    yield running
    running.stop(grace_s=5)
    tight.pool.close()
    tight.store.close()


def _overload(server, frame_ms: int) -> tuple[list, list[list[pb.CallEvent]]]:
    """Four calls at once, as fast as the network allows: far faster than real time."""
    calls = []
    for i, speaker in enumerate(["ravdess_13", "ravdess_14", "ravdess_15", "ravdess_16"]):
        clips = pick(server.ravdess, speaker=speaker, emotion="neutral", n=4)
        calls.append(conversation([(j % 2, c) for j, c in enumerate(clips)], gap_s=0.6 + 0.1 * i))
    results: list[list[pb.CallEvent]] = [[] for _ in calls]
    address = f"127.0.0.1:{server.running.port}"

    def send(i: int) -> None:
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.CallMonitorStub(channel)
            options = StreamOptions(frame_ms=frame_ms)
            results[i] = list(stub.StreamCall(requests_for(calls[i].audio, options), timeout=300))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return calls, results


def _nothing_lost(address: str, calls, results) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.CallMonitorStub(channel)
        for call, events in zip(calls, results, strict=True):
            assert events[-1].ended.status == pb.COMPLETED
            _, stored = fetch_audio(stub, events[0].accepted.call_id)
            assert stored == call.audio.data


@dataclasses.dataclass
class _Server:
    running: object
    ravdess: list


@pytest.mark.parametrize("tight_server", [(1, 3600.0)], indirect=True)
def test_transcription_overload_sheds_utterances_visibly_and_stores_every_byte(tight_server, ravdess) -> None:
    calls, results = _overload(_Server(tight_server, ravdess), frame_ms=20)
    notices = [e.notice for events in results for e in events if e.WhichOneof("event") == "notice"]
    assert {n.code for n in notices} == {pb.Notice.TRANSCRIPTION_SHED}, "one worker, a queue of 1, four calls"
    assert all(n.message and n.end_s > n.start_s for n in notices)
    address = f"127.0.0.1:{tight_server.port}"
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.CallMonitorStub(channel)
        for events in results:
            ended = events[-1].ended
            shed = [e for e in events if e.WhichOneof("event") == "notice"]
            assert ended.utterances_shed == len(shed)
            summary = stub.GetCall(pb.GetCallRequest(call_id=events[0].accepted.call_id)).summary
            assert summary.utterances_shed == ended.utterances_shed  # visible to QA afterwards too
    assert tight_server.manager.deps.pool.stats.shed == sum(r[-1].ended.utterances_shed for r in results)
    _nothing_lost(address, calls, results)


@pytest.mark.parametrize("tight_server", [(16, 0.006)], indirect=True)
def test_analysis_overload_skips_audio_visibly_and_stores_every_byte(tight_server, ravdess) -> None:
    calls, results = _overload(_Server(tight_server, ravdess), frame_ms=2)
    notices = [e.notice for events in results for e in events if e.WhichOneof("event") == "notice"]
    skipped = [n for n in notices if n.code == pb.Notice.ANALYSIS_SHED]
    assert skipped, "2 ms frames at full speed overflow an analysis queue of 6 ms of audio"
    assert all(n.message and n.end_s > n.start_s for n in notices)
    for events in results:  # what analysis skipped is neither talk nor silence in the call's dynamics
        shed = [
            e.notice for e in events if e.WhichOneof("event") == "notice" and e.notice.code == pb.Notice.ANALYSIS_SHED
        ]
        final = [e.dynamics for e in events if e.WhichOneof("event") == "dynamics"][-1]
        gaps = [(r.start_s, r.end_s) for r in final.unanalysed]
        assert len(gaps) == len(shed)  # (none adjacent: analysis resumes between them)
        skipped_s = sum(n.end_s - n.start_s for n in shed)
        assert sum(b - a for a, b in gaps) == pytest.approx(skipped_s, abs=0.01 * len(gaps) + 1e-6)
    _nothing_lost(f"127.0.0.1:{tight_server.port}", calls, results)
