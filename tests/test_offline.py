"""Offline analysis never leaves a transcript out, and every channel's finals come in time order."""

from __future__ import annotations

import dataclasses
import threading
import time

from service import client, convert
from service import events as ev
from service.channel_analysis import WINDOWS_AFTER_END_S
from service.domain import CallStatus
from service.offline import analyse_recording
from service.session import CallSession
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
    # every utterance is judged, after its transcript: its words (English) and its voice (the decode's states)
    judged = [e for e in events if e["type"] == "utterance"]
    assert len(judged) == len(call.turns)
    assert all(j["words"]["language"] == "en" and "door" in j["text"].lower() for j in judged), judged
    assert all(j["voice"]["source"] == "utterance" and j["voice"]["encoder_window_s"] == 30.0 for j in judged)


def _live_call_events(spec, audio, deps, *, timeout_s: float) -> list:  # type: ignore[no-untyped-def]
    """Stream `audio` through a live (not offline) CallSession in 20 ms frames at full speed; every event."""
    session = CallSession(spec, deps, on_done=lambda _: None)
    step = audio.format.bytes_per_second // 50
    for offset in range(0, len(audio.data), step):
        session.ingest(audio.data[offset : offset + step])
    session.end_input(CallStatus.COMPLETED)
    assert session.wait_ended(timeout_s)
    events = []
    while (stamped := session.next_event(0.1)) is not None:
        events.append(stamped.event)
    return events


class _SlowFirstUtterance:
    """The real transcriber, with the first utterance of the call held up as a busy worker would hold it."""

    def __init__(self, transcriber, delay_s: float) -> None:  # type: ignore[no-untyped-def]
        self._inner, self._delay_s, self._calls = transcriber, delay_s, 0
        self._lock = threading.Lock()

    def transcribe(self, audio, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            first, self._calls = self._calls == 0, self._calls + 1
        if first:
            time.sleep(self._delay_s)
        return self._inner.transcribe(audio, **kwargs)


def test_a_channels_finals_arrive_in_time_order_when_workers_finish_out_of_order(deps, ravdess, tmp_path) -> None:
    clips = pick(ravdess, speaker="ravdess_11", emotion="neutral", n=3)
    call = conversation([(0, c) for c in clips], gap_s=0.8)
    settings = deps.settings.replace(data_dir=tmp_path)
    pool = TranscriptionPool(workers=2, queue_size=8)
    mine = dataclasses.replace(
        own_deps(deps, settings), pool=pool, transcriber=_SlowFirstUtterance(deps.transcriber, 4.0)
    )
    spec = convert.call_spec(
        client.config_for(call.audio, client.StreamOptions(language="en")),
        call_id="in-order",
        allowed_languages=("en",),
    )
    try:
        events = _live_call_events(spec, call.audio, mine, timeout_s=120)
    finally:
        pool.close()
        mine.store.close()
    finals = [e.segment.start_s for e in events if isinstance(e, ev.FinalTranscript)]
    assert len(finals) == 3 and finals == sorted(finals), finals  # the later two finished first


def test_behind_transcription_decodes_with_the_busy_window_instead_of_shedding(deps, ravdess, tmp_path) -> None:
    """A live call whose utterances queue up (one worker, audio at full speed): those decoded while others wait
    use the cheaper busy window (counted per window in callguard_decodes_total); none is shed or lost."""
    from service import metrics

    clips = pick(ravdess, speaker="ravdess_05", emotion="neutral", n=4) + pick(
        ravdess, speaker="ravdess_05", emotion="calm", n=2
    )
    call = conversation([(i % 2, c) for i, c in enumerate(clips)], gap_s=0.6)
    settings = deps.settings.replace(data_dir=tmp_path, whisper_busy_queue=2, whisper_busy_window_s=6.0)
    pool = TranscriptionPool(workers=1, queue_size=16)
    mine = dataclasses.replace(own_deps(deps, settings), pool=pool)
    busy_before = metrics.DECODES.labels("6")._value.get()
    spec = convert.call_spec(
        client.config_for(call.audio, client.StreamOptions(language="en")), call_id="busy", allowed_languages=("en",)
    )
    try:
        events = _live_call_events(spec, call.audio, mine, timeout_s=180)
    finally:
        pool.close()
        mine.store.close()
    finals = [e for e in events if isinstance(e, ev.FinalTranscript)]
    ended = events[-1]
    assert isinstance(ended, ev.Ended) and ended.utterances_shed == 0
    assert len(finals) == len(clips) and all("door" in f.segment.text.lower() for f in finals), finals
    assert metrics.DECODES.labels("6")._value.get() > busy_before
    # each is judged from the states of the window it was decoded with (the utterance view's trade under load)
    windows = [e.judgement.voice.encoder_window_s for e in events if isinstance(e, ev.UtteranceEmotion)]
    assert len(windows) == len(clips) and 6.0 in windows and set(windows) <= {6.0, 30.0}, windows


def test_an_utterance_transcription_sheds_is_still_judged_from_its_window_estimates(deps, ravdess, tmp_path) -> None:
    """With no room in the transcription queue every utterance is shed (told, counted), but alerts must stay
    real time: each is judged by its voice alone, from the 3 s window estimates over it, without words."""
    clips = pick(ravdess, speaker="ravdess_21", emotion="angry", n=3)
    call = conversation([(0, c) for c in clips], gap_s=0.8, keep_levels=True)
    settings = deps.settings.replace(data_dir=tmp_path)
    pool = TranscriptionPool(workers=1, queue_size=0)
    mine = dataclasses.replace(own_deps(deps, settings), pool=pool)
    spec = convert.call_spec(
        client.config_for(call.audio, client.StreamOptions(language="en")),
        call_id="shed-judged",
        allowed_languages=("en",),
    )
    try:
        events = _live_call_events(spec, call.audio, mine, timeout_s=120)
        stored = mine.store.judgements("shed-judged")
    finally:
        pool.close()
        mine.store.close()
    ended = events[-1]
    assert isinstance(ended, ev.Ended) and ended.utterances_shed == len(clips) and ended.segments == 0
    judged = [e.judgement for e in events if isinstance(e, ev.UtteranceEmotion)]
    assert len(judged) == len(clips) and len(stored) == len(clips)
    assert all(j.voice.source == "windows" and j.words is None and j.text == "" for j in judged)
    estimates = [e.estimate for e in events if isinstance(e, ev.EmotionUpdate)]
    for j in judged:  # the voice is the mean of the window estimates ending in the utterance (or just after)
        over = [e.anger for e in estimates if j.start_s + 0.5 < e.end_s <= j.end_s + WINDOWS_AFTER_END_S]
        assert over and abs(j.voice.anger - sum(over) / len(over)) < 1e-6 and abs(j.anger - j.voice.anger) < 1e-6
