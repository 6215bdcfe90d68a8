"""Talk spurts of one channel, from the speech-activity decisions its utterance segmenter already makes.

A talk spurt is a stretch of one speaker's speech with no pause longer than `bridge_s` (pauses inside a
sentence, breaths). Overtalk, interruptions and silences are computed from spurts (conversation.py), so one
speaker's short pause for breath is not "dead air" and does not end their turn. The VAD decisions are those of
the transcription path (Silero plus loud voiced speech, 32 ms windows), so what counts as talk is what is
transcribed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DynamicsOptions:
    """How talk is turned into conversation dynamics (see Settings for the environment variables)."""

    # Pauses shorter than this do not end a spurt: a typical pause inside speech lasts about 0.25-0.5 s
    # (Lundholm Fors 2015, "Production and Perception of Pauses in Speech", University of Gothenburg).
    bridge_s: float = 0.5
    min_spurt_s: float = 0.2  # shorter bursts (clicks, a cough) are not talk
    # Overtalk shorter than this is a backchannel ("嗯", "mm-hm", "对对") or an early turn start, not an
    # interruption: overlap in conversation is frequent but short, its duration roughly log-normal (Laskowski,
    # Interspeech 2012), and turns are typically taken within ~0.2 s of each other.
    interruption_overlap_s: float = 0.5
    # The interrupted speaker must have been talking at least this long (a turn under way, not two people
    # starting at once).
    interruption_after_s: float = 1.0
    # A speaker's own silence between two of their spurts, nobody else talking, up to this long: a pause inside
    # their turn (hesitation). Longer ones are waiting (or dead air), not hesitating: silent hesitation pauses
    # in spontaneous speech mostly last 0.5-3 s (Campione & Véronis 2002, "A large-scale multilingual study of
    # silent pause duration", Speech Prosody).
    pause_max_s: float = 3.0
    dead_air_s: float = 5.0  # both sides silent at least this long: reported as a silence
    hold_s: float = 30.0  # a silence this long looks like a hold (or a dead line)
    update_every_s: float = 10.0  # call time between live ConversationDynamics events


@dataclass(frozen=True)
class Spurt:
    channel: int
    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class TalkTracker:
    """Turns one channel's stream of (window start, window length, is speech) into closed talk spurts."""

    def __init__(self, channel: int, options: DynamicsOptions | None = None) -> None:
        self.channel = channel
        self._opt = options or DynamicsOptions()
        self._start: float | None = None  # the open spurt's start
        self._last_speech_end = 0.0

    def observe(self, start_s: float, length_s: float, speech: bool) -> list[Spurt]:
        """One VAD window; returns the spurt it closed, if any (a spurt closes `bridge_s` after its last speech)."""
        if speech:
            if self._start is None:
                self._start = start_s
            self._last_speech_end = start_s + length_s
            return []
        if self._start is not None and start_s + length_s - self._last_speech_end >= self._opt.bridge_s:
            return self._close()
        return []

    def gap(self) -> list[Spurt]:
        """Audio was lost to analysis (or the call ended): whatever spurt is open ends at its last speech."""
        return self._close() if self._start is not None else []

    def open_spurt(self) -> Spurt | None:
        """The spurt under way (up to its latest speech), for live snapshots."""
        if self._start is None:
            return None
        return Spurt(self.channel, self._start, self._last_speech_end)

    def _close(self) -> list[Spurt]:
        spurt = Spurt(self.channel, float(self._start), self._last_speech_end)  # type: ignore[arg-type]
        self._start = None
        return [spurt] if spurt.duration_s >= self._opt.min_spurt_s else []
