"""The analysis queue is bounded in seconds of audio, whatever size of frame a gateway sends."""

from __future__ import annotations

import threading

import pytest

from service.audio.backlog import AudioBacklog
from service.audio.formats import AudioFormat, Encoding


@pytest.mark.parametrize("frame_ms", [1, 5, 20, 100])
def test_bound_is_the_same_seconds_of_audio_for_any_frame_size(frame_ms: int) -> None:
    fmt = AudioFormat(Encoding.MULAW, 8000, 2)
    frame = bytes(fmt.frame_bytes * 8 * frame_ms)
    backlog = AudioBacklog(max_s=2.0)
    accepted = 0
    while backlog.put(frame, fmt.duration_s(len(frame))):
        accepted += 1
    assert accepted * frame_ms / 1000 == pytest.approx(2.0)  # 2000 frames of 1 ms, 20 of 100 ms
    assert backlog.queued_s == pytest.approx(2.0)
    backlog.get()
    assert backlog.put(frame, fmt.duration_s(len(frame)))  # room again once one is taken


def test_end_of_input_always_gets_in_and_comes_out_in_order() -> None:
    backlog = AudioBacklog(max_s=0.05)
    assert backlog.put("a", 0.04) and not backlog.put("b", 0.02)
    backlog.put_control("end")
    assert [backlog.get(), backlog.get_nowait(), backlog.get_nowait()] == ["a", "end", None]


def test_blocking_put_waits_for_room_instead_of_refusing() -> None:
    backlog = AudioBacklog(max_s=0.1)
    backlog.put("a", 0.1)
    done = threading.Event()
    t = threading.Thread(target=lambda: (backlog.put("b", 0.1, block=True), done.set()))
    t.start()
    assert not done.wait(0.2)  # full: the offline reader waits
    assert backlog.get() == "a"
    assert done.wait(5) and backlog.get(timeout_s=1) == "b"
    with pytest.raises(TimeoutError):
        backlog.get(timeout_s=0.01)
    with pytest.raises(ValueError):
        AudioBacklog(max_s=0)
