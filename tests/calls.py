"""Stereo telephone calls built in the test from real corpus clips, with their expected transcript."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.corpus import Clip
from service.audio.formats import Encoding
from service.audio.wavfile import WavAudio
from service.simulate import Turn, build_call, normalise_peak, sequential_turns

CALL_RATE = 8000


@dataclass(frozen=True)
class BuiltCall:
    audio: WavAudio
    turns: list[Turn]

    def reference(self, channel: int) -> str:
        return " ".join(t.text for t in self.turns if t.channel == channel)

    def turn_ranges(self, channel: int) -> list[tuple[float, float]]:
        return [(t.start_s, t.end_s(CALL_RATE)) for t in self.turns if t.channel == channel]


def conversation(
    clips: list[tuple[int, Clip]], *, encoding: Encoding = Encoding.MULAW, gap_s: float = 0.8, keep_levels: bool = False
) -> BuiltCall:
    """Clips spoken in turn, each on its channel (0 customer, 1 agent), as an 8 kHz stereo call.

    By default every clip is brought to the same peak level (fine for transcription). With `keep_levels`, one
    gain per channel keeps each speaker's own level differences (a shout stays louder than calm speech), as
    emotion tests need."""
    audio = [(ch, c.load(CALL_RATE), c.sentence) for ch, c in clips]
    if keep_levels:
        peaks = {ch: max(float(np.abs(a).max()) for c2, a, _ in audio if c2 == ch) for ch, _, _ in audio}
        audio = [(ch, (a * (0.7 / max(peaks[ch], 1e-6))).astype(np.float32), text) for ch, a, text in audio]
    else:
        audio = [(ch, normalise_peak(a), text) for ch, a, text in audio]
    turns = sequential_turns(audio, sample_rate_hz=CALL_RATE, gap_s=gap_s)
    return BuiltCall(build_call(turns, sample_rate_hz=CALL_RATE, encoding=encoding), turns)


def pick(clips: list[Clip], *, speaker: str, emotion: str, n: int, sentence_offset: int = 0) -> list[Clip]:
    chosen = [c for c in clips if c.speaker == speaker and c.emotion == emotion]
    return chosen[sentence_offset : sentence_offset + n]
