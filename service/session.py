"""CallSession: everything about one live call, from its audio frames to the events its client receives.

Threads, and why:
- the gRPC reader (servicer.py) calls `ingest()` for each frame: validate, append to storage, hand the frame
  to analysis without blocking. Storing audio therefore never waits for analysis or transcription.
- one analysis thread per call decodes, resamples to 16 kHz and runs the streaming VAD per channel, and
  submits finished utterances to the shared transcription pool. If it falls behind, frames are skipped
  for analysis only (counted and reported with a Notice), never for storage.
- transcription workers (shared) deliver segments back through CallTranscripts
  (service/transcription/call_transcripts.py), which stores them in each channel's time order and queues
  the events.
The gRPC handler thread reads `next_event()` and writes to the client.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import queue
import threading
from collections.abc import Callable

from service import call_record, logs, metrics
from service import events as ev
from service.audio.backlog import AudioBacklog
from service.channel_analysis import ChannelAnalysis
from service.domain import CallSpec, CallStatus, Role, agent_of
from service.dynamics.conversation import Dynamics
from service.dynamics.live import CallDynamics
from service.errors import CallguardError, InvalidInput, ServerFault
from service.escalation.alerts import Alert
from service.escalation.detector import EscalationDetector
from service.judgement.judge import UtteranceContext
from service.judgement.results import UtteranceJudgement
from service.session_deps import SessionDeps
from service.transcription.call_transcripts import CallTranscripts
from service.transcription.results import Segment
from service.transcription.utterances import Utterance
from service.transcription.whisper import Transcription

log = logging.getLogger(__name__)

_END = object()

MAX_PENDING_EVENTS = 2000  # events waiting for a slow client (about 10 minutes of emotion updates)
_DROPPABLE = (ev.EmotionUpdate, ev.Progress, ev.InterimTranscript)


class _Channel(ChannelAnalysis):
    """Per-channel analysis state; touched by the analysis thread only."""

    def __init__(self, index: int, role: Role, in_rate_hz: int, deps: SessionDeps) -> None:
        super().__init__(
            in_rate_hz,
            vad_model=deps.vad_model,
            emotion_model=deps.emotion_model,
            utterance_options=deps.utterance_options,
            emotion_options=deps.emotion_options,
        )
        self.index = index
        self.role = role


class CallSession:
    def __init__(
        self, spec: CallSpec, deps: SessionDeps, *, on_done: Callable[[CallSession], None], offline: bool = False
    ) -> None:
        """`offline`: a recording, not a live call; analysis and transcription wait instead of shedding."""
        self.spec = spec
        self._offline = offline
        self._deps = deps
        self._settings = deps.settings
        self._on_done = on_done
        self._fmt = spec.format
        resumed_bytes = call_record.reopen(spec, deps) if spec.resume else call_record.create(spec, deps)
        self._writer = deps.audio.open_writer(spec.call_id)
        self._events: queue.Queue[ev.Stamped] = queue.Queue()
        self._analysis = AudioBacklog(deps.settings.analysis_queue_s)
        self._channels = [
            _Channel(i, spec.role(i), self._fmt.sample_rate_hz, deps) for i in range(self._fmt.channel_count)
        ]
        # Talk, overtalk and silences from every channel's VAD windows (a resumed call: from where it resumed).
        self._dynamics = CallDynamics(tuple(ch.role for ch in self._channels), deps.dynamics_options)
        for ch in self._channels:
            ch.segmenter.on_window = lambda t, n, speech, i=ch.index: self._dynamics.observe(i, t, n, speech)
        self._frames_in = resumed_bytes // self._fmt.frame_bytes  # sample frames received (per channel)
        self._first_frame = self._frames_in
        if self._first_frame:  # a resumed call: its analysis starts where the stored audio ends
            for ch in self._channels:
                ch.skip(self._first_frame)
        self._last_progress_s = self.call_time_s
        self._ended = threading.Event()
        self._input_closed = False
        self._lock = threading.Lock()
        self._detector = EscalationDetector(
            spec.call_id,
            deps.policy,
            hop_s=deps.settings.emotion_hop_s,
            queue=spec.metadata.get("queue", ""),
            agent=agent_of(spec.metadata),
        )
        self._transcripts = CallTranscripts(
            spec.call_id,
            tuple(ch.role for ch in self._channels),
            spec.languages,
            settings=deps.settings,
            pool=deps.pool,
            transcriber=deps.transcriber,
            decode_options=deps.decode_options,
            offline=offline,
            emit=self._emit,
            store=self._store,
            on_final=self._on_final,
            wants_rise=self._detector.wants_final_rise,
            call_time_s=lambda: self.call_time_s,
            judge=self._judge if deps.judge is not None else None,
            on_judgement=self._on_judgement,
        )
        self._thread = threading.Thread(target=self._analyse, name=f"analysis-{spec.call_id}", daemon=True)
        self._thread.start()
        metrics.CALLS_ACTIVE.inc()
        self._emit(ev.Accepted(spec.call_id, spec.languages, self.call_time_s))

    # ---- reader side -------------------------------------------------------------------------------
    @property
    def call_time_s(self) -> float:
        return self._frames_in / self._fmt.sample_rate_hz

    def ingest(self, data: bytes) -> None:
        """Store one audio frame and queue it for analysis. Raises InvalidInput for a malformed frame."""
        self._fmt.check_frame(data, max_frame_s=self._settings.max_frame_s)
        if self._ended.is_set():
            raise ServerFault("this call already ended on the server (see the CallEnded event); start a new stream")
        self._writer.write(data)
        metrics.AUDIO_SECONDS.inc(len(data) / self._fmt.bytes_per_second)
        start = self._frames_in
        self._frames_in += len(data) // self._fmt.frame_bytes
        # If analysis is behind, it sees the gap in frame numbers, resyncs and reports it; storage is done.
        self._analysis.put((start, data), self._fmt.duration_s(len(data)), block=self._offline)
        if self.call_time_s - self._last_progress_s >= self._settings.progress_interval_s:
            self._acknowledge()

    def _acknowledge(self) -> None:
        stored = self._writer.sync()  # the audio is durable from here: that is what the client is told
        self._last_progress_s = self.call_time_s
        t = self._transcripts
        self._store("update_progress", audio_bytes=stored, utterances_shed=t.shed, segments_dropped=t.dropped)
        self._emit(ev.Progress(stored, self._fmt.duration_s(stored)))

    def _store(self, method: str, *args: object, **kwargs: object) -> None:
        """Write derived data (progress, transcript, emotions) to the database; if it fails (full disk, a lock
        held too long) log it and go on: the audio, which recovery and replay rely on, is in its own file."""
        try:
            getattr(self._deps.store, method)(self.spec.call_id, *args, **kwargs)
        except Exception as exc:
            metrics.ERRORS.labels("storage", type(exc).__name__).inc()
            log.error("call %s: database write %s failed: %s", self.spec.call_id, method, exc)

    def end_input(self, status: CallStatus, reason: str = "") -> None:
        """No more audio: the client half-closed (COMPLETED) or the stream broke (INCOMPLETE)."""
        with self._lock:
            if self._input_closed:
                return
            self._input_closed = True
        with contextlib.suppress(ValueError, OSError):  # closed already, or the disk is gone: nothing to add
            self._writer.sync()
        # With the number of frames received: audio refused by a full backlog at the very end of the call has
        # no later frame to reveal the gap, and would otherwise go unanalysed without a notice.
        self._analysis.put_control((_END, status, reason, self._frames_in))

    def fail(self, error: CallguardError) -> None:
        """End the client's stream with this error now (invalid input, or a fault on our side); finish storing
        what arrived before it in the background."""
        self._emit(ev.Failed(error))
        kind = "invalid input" if isinstance(error, InvalidInput) else "server error"
        self.end_input(CallStatus.INCOMPLETE, f"{kind}: {error}")

    # ---- handler side ------------------------------------------------------------------------------
    def next_event(self, timeout_s: float) -> ev.Stamped | None:
        try:
            return self._events.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def wait_ended(self, timeout_s: float | None = None) -> bool:
        return self._ended.wait(timeout_s)

    def _emit(self, event: ev.Event | ev.Failed) -> None:
        """Queue an event for the client. A client that stops reading while still sending audio would grow
        this queue for as long as the call lasts, so beyond MAX_PENDING_EVENTS the replaceable events
        (emotion updates, progress, interim text) are dropped; transcripts, alerts and the end never are.
        (Offline analysis reads every event at the end, so it keeps them all.)"""
        if not self._offline and isinstance(event, _DROPPABLE) and self._events.qsize() >= MAX_PENDING_EVENTS:
            metrics.SHED.labels("client_events").inc()
            return
        self._events.put(ev.Stamped(self.call_time_s, event))

    # ---- analysis thread ---------------------------------------------------------------------------
    def _analyse(self) -> None:
        logs.CALL_ID.set(self.spec.call_id)
        status, reason = CallStatus.INCOMPLETE, "analysis failed"
        try:
            status, reason = self._analysis_loop()
            for ch in self._channels:
                for utt in ch.finish():
                    self._transcripts.submit(ch.index, utt, ch.context(utt))
        except Exception:
            log.exception("call %s: analysis failed; audio is still stored", self.spec.call_id)
        finally:
            self._finish(status, reason)

    def _analysis_loop(self) -> tuple[CallStatus, str]:
        expected = self._first_frame
        while True:
            item = self._analysis.get()
            batch = [item]
            while item[0] is not _END and len(batch) < 50:  # catch up in bigger steps when behind
                item = self._analysis.get_nowait()
                if item is None:
                    break
                batch.append(item)
            for entry in batch:
                if entry[0] is _END:
                    if entry[3] > expected:
                        self._skip(expected, entry[3])
                    return entry[1], entry[2]
                start, data = entry
                if start > expected:
                    self._skip(expected, start)
                expected = start + self._process(data)
                self._publish_dynamics(self._dynamics.due(expected / self._fmt.sample_rate_hz))
            metrics.ANALYSIS_LAG.observe(max(0.0, self.call_time_s - expected / self._fmt.sample_rate_hz))

    def _process(self, data: bytes) -> int:
        samples = self._fmt.decode(data)
        for ch in self._channels:
            utterances, estimates = ch.push(samples[:, ch.index])
            for estimate in estimates:
                self._store("add_emotion", ch.index, estimate)
                self._emit(ev.EmotionUpdate(ch.index, ch.role, estimate))
                self._escalate(self._detector.on_emotion(ch.index, ch.role, estimate))
            for utt in utterances:  # after the estimates: the judgement reads those over the utterance
                self._transcripts.submit(ch.index, utt, ch.context(utt))
            if self.spec.interim_results:
                self._transcripts.maybe_interim(ch.index, ch.segmenter.partial())
        return samples.shape[0]

    def _skip(self, from_frame: int, to_frame: int) -> None:
        rate = self._fmt.sample_rate_hz
        start_s, end_s = from_frame / rate, to_frame / rate
        log.warning("call %s: analysis fell behind, skipped %.2f s of audio", self.spec.call_id, end_s - start_s)
        metrics.SHED.labels("analysis").inc()
        metrics.SHED_SECONDS.labels("analysis").inc(end_s - start_s)
        self._dynamics.skipped(start_s, end_s)
        for ch in self._channels:
            for utt in ch.skip(to_frame - from_frame):
                self._transcripts.submit(ch.index, utt, ch.context(utt))
        self._emit(
            ev.Notice(
                ev.NoticeCode.ANALYSIS_SHED,
                -1,
                start_s,
                end_s,
                f"analysis fell behind and skipped {end_s - start_s:.2f} s of audio (the audio is stored)",
            )
        )

    def _publish_dynamics(self, dynamics: Dynamics | None) -> None:
        """A dynamics snapshot is due (every update_every_s, and at the end): stored, sent, and the pause rules
        (if the policy has any) read the pauses inside each speaker's turns so far."""
        if dynamics is not None:
            self._store("save_dynamics", dynamics)
            self._emit(ev.ConversationDynamics(dynamics))
            if self._detector.policy().pause_rules:
                for ch in self._channels:
                    self._escalate(self._detector.on_pauses(ch.index, ch.role, self._dynamics.pauses(ch.index)))

    def _escalate(self, alerts: list[Alert]) -> None:
        """Store and publish first (supervisors and QA), then tell this call's own client."""
        for alert in alerts:
            metrics.ALERTS.labels(alert.level.name, alert.reason).inc()
            try:
                self._deps.alerts.publish(alert)
            except Exception:  # the store failed: published all the same, stored when the database is back
                log.exception(
                    "call %s: could not store alert %s yet (published; AlertHub.store_unsaved retries it)",
                    self.spec.call_id, alert.alert_id,
                )  # fmt: skip
            self._emit(ev.Escalation(copy.copy(alert)))

    def _on_final(self, channel: int, role: Role, seg: Segment, final_rise_st: float) -> None:
        """A final segment was delivered (a transcription worker): the speech-rate curve, phrase, question
        and rate rules."""
        self._dynamics.add_rate(channel, seg.end_s, seg.speech_rate_sps)
        self._escalate(
            self._detector.on_transcript(
                channel,
                role,
                seg.start_s,
                seg.end_s,
                seg.text,
                final_rise_st=final_rise_st,
                language=seg.language,
                speech_rate_sps=seg.speech_rate_sps,
            )
        )

    def _judge(
        self, channel: int, utt: Utterance, result: Transcription | None, segments: list[Segment], context: object
    ) -> UtteranceJudgement:
        """Judge an utterance (a transcription worker; the analysis thread for a shed one): its words and
        voice, fused as the current policy's [fusion] table says."""
        assert self._deps.judge is not None
        language = segments[0].language if segments else (result.language.language if result else "")
        text = ("" if language == "zh" else " ").join(s.text for s in segments).strip()
        pieces = result.voice_pieces if result is not None else ()
        return self._deps.judge.judge(
            start_s=utt.start_s,
            end_s=utt.end_s,
            audio=utt.audio if pieces else None,
            pieces=pieces,
            encoder_window_s=result.encoder_window_s if result is not None else 0.0,
            text=text,
            language=language,
            context=context if isinstance(context, UtteranceContext) else UtteranceContext(),
            options=self._detector.policy().fusion,
        )

    def _on_judgement(self, channel: int, role: Role, judgement: UtteranceJudgement) -> None:
        """An utterance was judged (delivered in the channel's order, after its transcript): stored, sent, and
        the score rules that read utterances decide."""
        self._store("add_judgement", channel, judgement)
        self._emit(ev.UtteranceEmotion(channel, role, judgement))
        self._escalate(self._detector.on_judgement(channel, role, judgement))

    # ---- end -----------------------------------------------------------------------------------------
    @property
    def transcriptions_pending(self) -> int:
        """Utterances submitted for transcription and not finished yet."""
        return self._transcripts.pending

    def _finish(self, status: CallStatus, reason: str) -> None:
        # Live: a client waits for CallEnded, so pending transcription gets `finish_timeout_s`. Offline there is
        # nobody to release early and a missing transcript is a wrong report: wait for every one.
        unfinished = self._transcripts.wait(float("inf") if self._offline else self._settings.finish_timeout_s)
        if unfinished:
            log.warning(
                "call %s: %d utterances still transcribing at the finish timeout",
                self.spec.call_id,
                unfinished,
            )
        stored = self._writer.close()
        if stored:
            self._publish_dynamics(self._dynamics.finish(self._fmt.duration_s(stored)))
        # If this write fails (a full disk), the audio file still has the bytes and restart recovery marks the row.
        self._store(
            "finish_call",
            status=status,
            end_reason=reason,
            audio_bytes=stored,
            utterances_shed=self._transcripts.shed,
            segments_dropped=self._transcripts.dropped,
        )
        log.info("call %s ended: %s %s (%.1f s audio)", self.spec.call_id, status.value, reason, self.call_time_s)
        if stored == 0:
            call_record.discard(self.spec.call_id, reason, self._deps)
        self._deps.alerts.forget_call(self.spec.call_id)
        metrics.CALLS_ACTIVE.dec()
        metrics.CALLS_ENDED.labels(status.value if stored else "NOT_STORED").inc()
        t = self._transcripts
        self._emit(ev.Ended(status, self._fmt.duration_s(stored), t.sent, t.shed, t.dropped))
        self._ended.set()
        self._on_done(self)
