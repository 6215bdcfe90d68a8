"""The live pipeline (CallSession) run over a recording, without a server: `callguard analyze` and tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from service import events as ev
from service.audio.wavfile import WavAudio
from service.domain import CallSpec, CallStatus
from service.report import event_dict
from service.session import CallSession
from service.session_deps import SessionDeps

PROGRESS_EVERY_S = 5.0  # wall-clock seconds between progress lines


def analyse_recording(
    spec: CallSpec, audio: WavAudio, deps: SessionDeps, *, progress: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """Stream `audio` through a CallSession in 20 ms frames, as a gateway would, waiting for analysis and
    transcription instead of shedding (however busy the machine: nothing is left out); returns every event
    (as `callguard analyze --json` prints them), sorted by end time and channel. `progress` gets a line for
    people every few seconds of work."""
    session = CallSession(spec, deps, on_done=lambda _: None, offline=True)
    step = audio.format.bytes_per_second // 50
    said_at = time.monotonic()

    def tell(line: str) -> None:
        nonlocal said_at
        if progress is not None and time.monotonic() - said_at >= PROGRESS_EVERY_S:
            progress(line)
            said_at = time.monotonic()

    for offset in range(0, len(audio.data), step):
        session.ingest(audio.data[offset : offset + step])
        tell(
            f"read {audio.format.duration_s(offset + step):.0f} of {audio.duration_s:.0f} s; "
            f"{session.transcriptions_pending} utterance(s) transcribing"
        )
    session.end_input(CallStatus.COMPLETED)
    events = []
    while True:
        stamped = session.next_event(timeout_s=1.0)
        if stamped is None:
            tell(f"all audio read; waiting for {session.transcriptions_pending} utterance(s) to be transcribed")
            continue
        if isinstance(stamped.event, ev.Ended):
            break
        item = event_dict(stamped.event)  # type: ignore[arg-type]
        if item:
            events.append(item)
    events.sort(key=lambda e: (e["end_s"], e["channel"]))
    return events
