"""The live pipeline (CallSession) run over a recording, without a server: `callguard analyze` and tests."""

from __future__ import annotations

from typing import Any

from service import events as ev
from service.audio.wavfile import WavAudio
from service.domain import CallSpec, CallStatus
from service.report import event_dict
from service.session import CallSession, SessionDeps


def analyse_recording(spec: CallSpec, audio: WavAudio, deps: SessionDeps) -> list[dict[str, Any]]:
    """Stream `audio` through a CallSession in 20 ms frames, as a gateway would, waiting for analysis and
    transcription instead of shedding; returns every event (as `callguard analyze --json` prints them),
    sorted by end time and channel."""
    session = CallSession(spec, deps, on_done=lambda _: None, offline=True)
    step = audio.format.bytes_per_second // 50
    for offset in range(0, len(audio.data), step):
        session.ingest(audio.data[offset : offset + step])
    session.end_input(CallStatus.COMPLETED)
    events = []
    while True:
        stamped = session.next_event(timeout_s=1.0)
        if stamped is None:
            continue
        if isinstance(stamped.event, ev.Ended):
            break
        item = event_dict(stamped.event)  # type: ignore[arg-type]
        if item:
            events.append(item)
    events.sort(key=lambda e: (e["end_s"], e["channel"]))
    return events
