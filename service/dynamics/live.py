"""A live call's conversation dynamics: fed by every channel's VAD windows and emotion estimates on the
analysis thread, summarised every `update_every_s` of call time (a ConversationDynamics event) and at the end
(stored with the call)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from service.domain import Role
from service.dynamics.conversation import Dynamics, pause_gaps, summarise
from service.dynamics.talk import DynamicsOptions, Spurt, TalkTracker


class CallDynamics:
    """Fed by the call's analysis thread (VAD windows) and its transcription workers (speech rates)."""

    def __init__(self, roles: Sequence[Role], options: DynamicsOptions | None = None) -> None:
        self._roles = tuple(roles)
        self._opt = options or DynamicsOptions()
        self._trackers = [TalkTracker(ch, self._opt) for ch in range(len(self._roles))]
        self._spurts: list[Spurt] = []
        self._rates: dict[int, list[tuple[float, float]]] = {ch: [] for ch in range(len(self._roles))}
        self._next_update_s = self._opt.update_every_s
        self._unanalysed: list[tuple[float, float]] = []
        self._rates_lock = threading.Lock()

    @property
    def spurts(self) -> tuple[Spurt, ...]:
        """Every closed talk spurt so far, all channels."""
        return tuple(self._spurts)

    def observe(self, channel: int, start_s: float, length_s: float, speech: bool) -> None:
        """One VAD window of one channel (UtteranceSegmenter.on_window)."""
        self._spurts += self._trackers[channel].observe(start_s, length_s, speech)

    def gap(self, channel: int) -> None:
        """This channel's open spurt ends at its last speech (audio lost, or the end of the call)."""
        self._spurts += self._trackers[channel].gap()

    def skipped(self, start_s: float, end_s: float) -> None:
        """Analysis skipped this stretch of every channel (ANALYSIS_SHED): not talk, not silence."""
        for ch in range(len(self._trackers)):
            self.gap(ch)
        self._unanalysed.append((start_s, end_s))

    def pauses(self, channel: int) -> list[tuple[float, float]]:
        """The channel's pauses inside its own turns so far, (start_s, end_s); none on a mono call (there a
        pause and a turn change look the same)."""
        return pause_gaps(self._spurts, channel, self._opt) if len(self._roles) > 1 else []

    def add_rate(self, channel: int, t_s: float, speech_rate_sps: float) -> None:
        """A transcript sentence's speech rate (syllables/s of its word timings, Segment.speech_rate_sps)."""
        with self._rates_lock:
            self._rates[channel].append((t_s, speech_rate_sps))

    def _rates_now(self) -> dict[int, list[tuple[float, float]]]:
        with self._rates_lock:
            return {ch: list(r) for ch, r in self._rates.items()}

    def snapshot(self, now_s: float) -> Dynamics:
        """Dynamics of the call so far (spurts under way count up to their latest speech)."""
        open_spurts = [s for t in self._trackers if (s := t.open_spurt()) is not None]
        return summarise(
            [*self._spurts, *open_spurts], self._roles, now_s, self._opt, self._rates_now(), self._unanalysed
        )

    def due(self, now_s: float) -> Dynamics | None:
        """A snapshot when the next periodic update is due, else None."""
        if now_s < self._next_update_s:
            return None
        while self._next_update_s <= now_s:
            self._next_update_s += self._opt.update_every_s
        return self.snapshot(now_s)

    def finish(self, duration_s: float) -> Dynamics:
        for ch in range(len(self._trackers)):
            self.gap(ch)
        return summarise(self._spurts, self._roles, duration_s, self._opt, self._rates_now(), self._unanalysed)
