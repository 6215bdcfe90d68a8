"""`callguard analyze` (offline analysis) never leaves a transcript out, however slow transcription is."""

from __future__ import annotations

import dataclasses

from service import client, convert
from service.offline import analyse_recording
from service.transcription.pool import TranscriptionPool
from tests.calls import conversation, pick
from tests.servers import own_deps


def test_offline_analysis_waits_for_every_transcript_past_the_live_finish_timeout(deps, ravdess, tmp_path) -> None:
    """A live call gives pending transcription `finish_timeout_s` after the client half-closes; offline there is
    no client to release, so even with that timeout at 0 (a machine far too busy for it) and one worker, every
    utterance comes back transcribed."""
    clips = pick(ravdess, speaker="ravdess_09", emotion="neutral", n=4)
    call = conversation([(i % 2, c) for i, c in enumerate(clips)], gap_s=0.5)
    settings = deps.settings.replace(finish_timeout_s=0.0, data_dir=tmp_path)
    pool = TranscriptionPool(workers=1, queue_size=1)
    mine = dataclasses.replace(own_deps(deps, settings), pool=pool)
    lines: list[str] = []
    try:
        spec = convert.call_spec(
            client.config_for(call.audio, client.StreamOptions(language="en")),
            call_id="offline-all",
            allowed_languages=("en",),
        )
        events = analyse_recording(spec, call.audio, mine, progress=lines.append)
    finally:
        pool.close()
        mine.store.close()
    texts = [e for e in events if e["type"] == "transcript"]
    assert len(texts) == len(call.turns), texts
    for turn in call.turns:
        assert any(t["channel"] == turn.channel and abs(t["start_s"] - turn.start_s) < 1.0 for t in texts), (
            turn,
            texts,
        )
    assert all("door" in t["text"].lower() for t in texts), texts
    assert pool.stats.shed == 0
