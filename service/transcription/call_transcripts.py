"""One call's transcription: its utterances to the shared worker pool, its finals back to the call.

What it guarantees, and why it lives apart from the call's audio path (service/session.py):
- each channel's finals are delivered in time order although workers finish them in any order: utterances
  are numbered when submitted and a result waits until every earlier one of its channel is out (a shed or
  failed one releases the rest);
- nothing is lost silently: an utterance the pool cannot take is shed (TRANSCRIPTION_SHED notice, counted)
  and decoded text that looks like a hallucination is dropped (TRANSCRIPT_DROPPED notice, counted);
- while transcription is behind, utterances are decoded with the cheaper busy window rather than shed
  (Settings.whisper_busy_window_s; bench/transcription.py for what it costs in accuracy);
- each channel's recent language is a prior for its next utterance, never a lock;
- personal data is masked before text is stored, sent or matched (redaction.py);
- every utterance is judged (service/judgement: words and voice, from the decode's own encoder states), a
  shed one from the voice's window estimates alone, and the judgements reach the call in the same order.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service import events as ev
from service import logs, metrics, redaction
from service.domain import Role
from service.settings import Settings
from service.transcription.intonation import utterance_final_rise_st
from service.transcription.pool import Job, TranscriptionPool
from service.transcription.results import Segment
from service.transcription.utterances import Utterance
from service.transcription.whisper import DecodeOptions, DroppedSegment, Transcriber, Transcription

log = logging.getLogger(__name__)

# A result this sure of its language, from an utterance this long, becomes the channel's prior language (a
# prior, never a lock: Transcriber weighs it against what it hears in every utterance).
_PRIOR_PROBABILITY = 0.8
_PRIOR_MIN_S = 1.0


@dataclass
class _ChannelState:
    index: int
    role: Role
    language: str | None = None  # the channel's recent language: a prior for the next utterance
    interim_start_s: float | None = None  # start of the utterance interims are about
    interim_until_s: float = 0.0
    interim_busy: bool = False
    order_lock: threading.Lock = field(default_factory=threading.Lock)
    submitted: int = 0
    delivered: int = 0
    # segments, final rise, the utterance's judgement (if any)
    ready: dict[int, tuple[list[Segment], float, Any]] = field(default_factory=dict)


class CallTranscripts:
    """Transcription of one call's channels. `emit` queues an event for the call's client, `store` writes to
    the call's row (CallStore method name and arguments), `on_final` hears every final segment (phrase rules)
    with the final pitch rise of its utterance in semitones (features.intonation) for an utterance's last
    segment, NaN for the others and where `wants_rise(language, role)` says no rule would use it.
    `judge(channel, utterance, transcription or None, segments, context)` judges an utterance (None: not
    judged) and `on_judgement(channel, role, judgement)` hears each, after the utterance's segments."""

    def __init__(
        self,
        call_id: str,
        roles: tuple[Role, ...],
        languages: tuple[str, ...],
        *,
        settings: Settings,
        pool: TranscriptionPool,
        transcriber: Transcriber,
        decode_options: DecodeOptions,
        offline: bool,
        emit: Callable[[Any], None],
        store: Callable[..., None],
        on_final: Callable[[int, Role, Segment, float], None],
        wants_rise: Callable[[str, Role], bool],
        call_time_s: Callable[[], float],
        judge: Callable[..., Any] | None = None,
        on_judgement: Callable[[int, Role, Any], None] | None = None,
    ) -> None:
        self._call_id = call_id
        self._languages = languages
        self._settings = settings
        self._pool = pool
        self._transcriber = transcriber
        self._options = decode_options
        self._offline = offline
        self._emit = emit
        self._store = store
        self._on_final = on_final
        self._wants_rise = wants_rise
        self._now = call_time_s
        self._judge = judge
        self._on_judgement = on_judgement
        self._channels = [_ChannelState(i, role) for i, role in enumerate(roles)]
        self._cond = threading.Condition()
        self.pending = 0  # submitted and not finished
        self.shed = 0
        self.dropped = 0  # decoded segments dropped as likely hallucinations
        self.sent = 0  # final segments delivered

    # ---- finals --------------------------------------------------------------------------------------
    def submit(self, channel: int, utt: Utterance, context: Any = None) -> None:
        """Queue a finished utterance (the analysis thread); shed visibly if the pool is full (live calls).
        `context`: what the analysis knew when it ended (service.judgement.judge.UtteranceContext)."""
        ch = self._channels[channel]
        ch.interim_start_s = None
        seq, ch.submitted = ch.submitted, ch.submitted + 1
        with self._cond:
            self.pending += 1
        if self._pool.submit(Job(run=lambda: self._transcribe(ch, utt, seq, context)), wait=self._offline):
            return
        # later utterances must not wait for this one; its voice is still judged, from the window estimates
        self._deliver(ch, seq, [], judgement=self._judged(ch, utt, None, [], context))
        self._done()
        self.shed += 1
        metrics.SHED.labels("transcription").inc()
        metrics.SHED_SECONDS.labels("transcription").inc(utt.end_s - utt.start_s)
        log.warning(
            "call %s channel %d: transcription is behind, utterance %.2f-%.2f s not transcribed (shed total %d)",
            self._call_id, ch.index, utt.start_s, utt.end_s, self._pool.stats.shed,
        )  # fmt: skip
        self._emit(
            ev.Notice(
                ev.NoticeCode.TRANSCRIPTION_SHED,
                ch.index,
                utt.start_s,
                utt.end_s,
                "transcription is behind; this utterance was not transcribed (its audio is stored)",
            )
        )

    def wait(self, timeout_s: float) -> int:
        """Wait up to `timeout_s` (inf: for ever) for pending utterances; returns how many are still pending."""
        with self._cond:
            self._cond.wait_for(lambda: self.pending == 0, timeout=None if timeout_s == float("inf") else timeout_s)
            return self.pending

    def _done(self) -> None:
        with self._cond:
            self.pending -= 1
            self._cond.notify_all()

    def _judged(
        self, ch: _ChannelState, utt: Utterance, result: Transcription | None, segments: list[Segment], context: Any
    ) -> Any:
        """The utterance's judgement, or None (no judge, or it failed: logged, never fatal to the transcript)."""
        if self._judge is None:
            return None
        try:
            return self._judge(ch.index, utt, result, [self._redact(s) for s in segments], context)
        except Exception:
            log.exception("call %s channel %d: judging utterance %.2f-%.2f s failed", self._call_id, ch.index,
                          utt.start_s, utt.end_s)  # fmt: skip
            return None

    def _transcribe(self, ch: _ChannelState, utt: Utterance, seq: int, context: Any = None) -> None:
        logs.CALL_ID.set(self._call_id)
        segments: list[Segment] = []
        rise = float("nan")
        result: Transcription | None = None
        try:
            options = self._options
            if not self._offline and self._pool.waiting >= self._settings.whisper_busy_queue:
                # behind: decode with the cheaper window rather than let the queue grow until it sheds
                options = dataclasses.replace(options, window_s=self._settings.whisper_busy_window_s)
            metrics.DECODES.labels(f"{options.window_s:g}").inc()
            result = self._transcriber.transcribe(
                utt.audio,
                languages=self._languages,
                offset_s=utt.audio_start_s,
                options=options,
                prior=ch.language,
                keep_states=self._judge is not None,
            )
            segments = result.segments
            if segments and result.language.probability >= _PRIOR_PROBABILITY and utt.duration_s >= _PRIOR_MIN_S:
                ch.language = result.language.language
            for dropped in result.dropped:
                self._drop(ch, dropped)
            if segments and self._wants_rise(segments[-1].language, ch.role):
                rise = utterance_final_rise_st(utt.audio)
        finally:  # a failed decode delivers nothing, and must not hold back the utterances after it
            self._deliver(ch, seq, segments, rise, self._judged(ch, utt, result, segments, context))
            self._done()

    def _drop(self, ch: _ChannelState, dropped: DroppedSegment) -> None:
        """Decoded text not shown as speech: counted on the call, logged and told to the client, never silent."""
        with self._cond:
            self.dropped += 1
        metrics.SEGMENTS_DROPPED.inc()
        log.info(
            "call %s channel %d: dropped %r at %.2f-%.2f s as a likely hallucination: %s",
            self._call_id, ch.index, dropped.text, dropped.start_s, dropped.end_s, dropped.reason,
        )  # fmt: skip
        self._emit(
            ev.Notice(
                ev.NoticeCode.TRANSCRIPT_DROPPED,
                ch.index,
                dropped.start_s,
                dropped.end_s,
                f"not shown as speech ({dropped.reason}): {dropped.text!r}",
            )
        )

    def _deliver(
        self, ch: _ChannelState, seq: int, segments: list[Segment], rise: float = float("nan"), judgement: Any = None
    ) -> None:
        """Store and send utterance `seq`'s segments (then its judgement) once every earlier utterance of the
        channel is out, so a client gets each channel's finals in time order (utterances do not overlap
        within a channel)."""
        with ch.order_lock:
            ch.ready[seq] = (segments, rise, judgement)
            while ch.delivered in ch.ready:
                ready, final_rise, judged = ch.ready.pop(ch.delivered)
                for k, raw in enumerate(ready):
                    seg = self._redact(raw)
                    self._store("add_segment", ch.index, seg)
                    with self._cond:
                        self.sent += 1
                    metrics.TRANSCRIPT_LAG.observe(max(0.0, self._now() - seg.end_s))
                    self._emit(ev.FinalTranscript(ch.index, ch.role, seg))
                    self._on_final(ch.index, ch.role, seg, final_rise if k == len(ready) - 1 else float("nan"))
                if judged is not None and self._on_judgement is not None:
                    self._on_judgement(ch.index, ch.role, judged)
                ch.delivered += 1

    def _redact(self, seg: Segment) -> Segment:
        """Personal data masked before the text is stored, sent, matched against phrases or put in an alert."""
        return redaction.redact_segment(seg, self._settings.redact_pii)

    # ---- interim text ---------------------------------------------------------------------------------
    def maybe_interim(self, channel: int, part: Utterance | None) -> None:
        """Transcribe the utterance in progress (`part`) when the pool is idle and enough new speech came."""
        ch = self._channels[channel]
        if part is None or ch.interim_busy or not self._pool.idle:
            return
        if ch.interim_start_s != part.start_s:
            ch.interim_start_s, ch.interim_until_s = part.start_s, part.start_s
        if part.end_s - ch.interim_until_s < self._settings.interim_interval_s:
            return
        ch.interim_busy, ch.interim_until_s = True, part.end_s

        def run() -> None:
            try:
                if ch.interim_start_s != part.start_s:
                    return  # the utterance ended while this waited: its final text is on the way
                result = self._transcriber.transcribe(
                    part.audio,
                    languages=self._languages,
                    offset_s=part.audio_start_s,
                    options=self._options,
                    prior=ch.language,
                )
                text = " ".join(self._redact(s).text for s in result.segments).strip()
                if text and ch.interim_start_s == part.start_s:
                    language = result.language.language
                    self._emit(ev.InterimTranscript(ch.index, ch.role, part.start_s, part.end_s, text, language))
            finally:
                ch.interim_busy = False

        self._pool.submit(Job(run=run, interim=True))
