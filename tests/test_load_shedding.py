"""When transcription or analysis cannot keep up, work is shed visibly and no audio is lost."""

from __future__ import annotations

import threading

import grpc
import pytest
from callguard.v1 import callguard_pb2 as pb
from callguard.v1 import callguard_pb2_grpc as pb_grpc

from service.client import StreamOptions, fetch_audio, requests_for
from service.escalation.bus import AlertHub, InProcessBus
from service.server import create_server
from service.session import SessionDeps
from service.storage import SqliteCallStore
from service.transcription.pool import TranscriptionPool
from tests.calls import conversation, pick


@pytest.fixture()
def tight_server(deps: SessionDeps, tmp_path):
    """A second server sharing the loaded model, with a transcription queue of 1 and a tiny analysis queue."""
    settings = deps.settings.replace(transcribe_queue=1, analysis_queue_frames=3, data_dir=tmp_path)
    store = SqliteCallStore(settings.db_path)
    tight = SessionDeps(
        settings=settings,
        store=store,
        audio=type(deps.audio)(settings.audio_dir),
        transcriber=deps.transcriber,
        pool=TranscriptionPool(workers=1, queue_size=1),
        vad_model=deps.vad_model,
        emotion_model=deps.emotion_model,
        policy=deps.policy,
        alerts=AlertHub(store, InProcessBus()),
    )
    running = create_server(settings, tight)
    yield running
    running.stop(grace_s=5)
    tight.pool.close()
    tight.store.close()


def test_overload_sheds_transcription_and_analysis_but_stores_every_byte(tight_server, ravdess) -> None:
    calls = []
    for i, speaker in enumerate(["ravdess_13", "ravdess_14", "ravdess_15", "ravdess_16"]):
        clips = pick(ravdess, speaker=speaker, emotion="neutral", n=4)
        calls.append(conversation([(j % 2, c) for j, c in enumerate(clips)], gap_s=0.6 + 0.1 * i))
    results: list[list[pb.CallEvent]] = [[] for _ in calls]
    address = f"127.0.0.1:{tight_server.port}"

    def send(i: int) -> None:  # as fast as the network allows, in 2 ms frames: far faster than real time
        with grpc.insecure_channel(address) as channel:
            stub = pb_grpc.CallMonitorStub(channel)
            results[i] = list(stub.StreamCall(requests_for(calls[i].audio, StreamOptions(frame_ms=2)), timeout=300))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    notices = [e.notice for events in results for e in events if e.WhichOneof("event") == "notice"]
    codes = {n.code for n in notices}
    assert pb.Notice.TRANSCRIPTION_SHED in codes, "four calls at full speed through a queue of 1 must shed"
    assert pb.Notice.ANALYSIS_SHED in codes, "2 ms frames at full speed overflow an analysis queue of 3"
    assert all(n.message and n.end_s > n.start_s for n in notices)
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.CallMonitorStub(channel)
        for call, events in zip(calls, results, strict=True):
            ended = events[-1].ended
            assert ended.status == pb.COMPLETED
            shed_notices = [
                e for e in events if e.WhichOneof("event") == "notice" and e.notice.code == pb.Notice.TRANSCRIPTION_SHED
            ]
            assert ended.utterances_shed == len(shed_notices)
            call_id = events[0].accepted.call_id
            summary = stub.GetCall(pb.GetCallRequest(call_id=call_id)).summary
            assert summary.utterances_shed == ended.utterances_shed  # visible to QA afterwards too
            _, stored = fetch_audio(stub, call_id)
            assert stored == call.audio.data
    assert tight_server.manager.deps.pool.stats.shed == sum(r[-1].ended.utterances_shed for r in results)
