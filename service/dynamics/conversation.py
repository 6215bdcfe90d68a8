"""Conversation dynamics of a call from its channels' talk spurts: talk time and share, overtalk,
interruptions (who started talking over whom, when), silences and hold-like stretches, each speaker's
speech rate over the call and the pauses inside their own turns. What commercial call analytics report (for example Amazon Connect Contact Lens:
talk time, interruptions, non-talk time), computed from the same speech activity the transcript uses.

Pure functions of the spurts so far: the live call recomputes a snapshot every few seconds, and a stored call
keeps the final one. One channel (a mono call mixes both speakers) gives talk and silence only: overtalk and
interruptions need the speakers on separate channels.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from service.domain import Role
from service.dynamics.talk import DynamicsOptions, Spurt

RATE_BUCKET_S = 30.0  # speech rate is reported per 30 s of call time


@dataclass(frozen=True)
class Interruption:
    """`by_channel` started talking at `start_s` while `of_channel` had been talking for a while, and both
    talked for `overlap_s`."""

    by_channel: int
    of_channel: int
    start_s: float
    overlap_s: float


@dataclass(frozen=True)
class Silence:
    """Neither side talked from `start_s` to `end_s` (at least DynamicsOptions.dead_air_s)."""

    start_s: float
    end_s: float
    hold_like: bool  # at least DynamicsOptions.hold_s: a hold, or a dead line

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class RatePoint:
    start_s: float  # the start of a RATE_BUCKET_S stretch of call time
    speech_rate_sps: float  # median syllable rate of the speaker's transcript sentences ending in it


@dataclass(frozen=True)
class SpeakerTalk:
    channel: int
    role: Role
    talk_s: float  # seconds of talk spurts
    talk_share: float  # of all talk in the call (0 when nobody talked)
    turns: int  # talk spurts
    interruptions_made: int
    speech_rate: tuple[RatePoint, ...] = ()
    pauses: int = 0  # silences inside their own turn (bridge_s to pause_max_s, nobody else talking); stereo only
    pauses_per_min: float = 0.0  # per minute of their talk


@dataclass(frozen=True)
class Dynamics:
    duration_s: float
    speakers: tuple[SpeakerTalk, ...]
    overtalk_s: float  # both (any two) channels talking at once
    overtalk: tuple[tuple[float, float], ...]
    interruptions: tuple[Interruption, ...]
    silences: tuple[Silence, ...]
    longest_silence_s: float
    non_talk_s: float  # nobody talking, including pauses shorter than a reported silence
    # Stretches analysis skipped (ANALYSIS_SHED): unknown, so neither talk nor silence; a silence around one
    # is reported as two.
    unanalysed: tuple[tuple[float, float], ...] = ()
    options: DynamicsOptions = field(default_factory=DynamicsOptions)

    @property
    def hold_s(self) -> float:
        return sum(s.duration_s for s in self.silences if s.hold_like)


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _overlaps(spurts: Sequence[Spurt]) -> list[tuple[float, float]]:
    """Stretches where two spurts of different channels overlap (merged)."""
    ordered = sorted(spurts, key=lambda s: s.start_s)
    pairs = []
    for i, a in enumerate(ordered):
        for b in ordered[i + 1 :]:
            if b.start_s >= a.end_s:
                break
            if b.channel != a.channel:
                pairs.append((b.start_s, min(a.end_s, b.end_s)))
    return _union(pairs)


def _interruptions(spurts: Sequence[Spurt], opt: DynamicsOptions) -> list[Interruption]:
    """O(n log n): a channel's spurts do not overlap each other, so the one under way when another channel's
    spurt starts is found by bisection on that channel's start times."""
    by_channel: dict[int, list[Spurt]] = {}
    for s in sorted(spurts, key=lambda s: s.start_s):
        by_channel.setdefault(s.channel, []).append(s)
    starts = {ch: [s.start_s for s in mine] for ch, mine in by_channel.items()}
    out = []
    for b in spurts:
        for ch, mine in by_channel.items():
            k = bisect.bisect_left(starts[ch], b.start_s) - 1  # the last of ch's spurts starting before b
            if ch == b.channel or k < 0 or not mine[k].end_s > b.start_s:
                continue
            a = mine[k]
            overlap = min(a.end_s, b.end_s) - b.start_s
            if b.start_s - a.start_s >= opt.interruption_after_s and overlap >= opt.interruption_overlap_s:
                out.append(Interruption(b.channel, a.channel, round(b.start_s, 2), round(overlap, 2)))
                break
    return sorted(out, key=lambda i: i.start_s)


def pause_gaps(spurts: Sequence[Spurt], channel: int, opt: DynamicsOptions) -> list[tuple[float, float]]:
    """Silences inside one speaker's turn, (start_s, end_s) in call time: between two of their consecutive
    spurts, at most `pause_max_s` long, with no other channel's spurt in the gap (else the gap was the other
    side's turn)."""
    mine = sorted((s for s in spurts if s.channel == channel), key=lambda s: s.start_s)
    others = _union([(s.start_s, s.end_s) for s in spurts if s.channel != channel])
    starts = [a for a, _ in others]
    out = []
    for a, b in itertools.pairwise(mine):
        if b.start_s - a.end_s > opt.pause_max_s:
            continue
        k = bisect.bisect_left(starts, b.start_s) - 1  # the last other-talk stretch starting before b
        if k < 0 or others[k][1] <= a.end_s:
            out.append((a.end_s, b.start_s))
    return out


def _silences(talk: list[tuple[float, float]], duration_s: float, opt: DynamicsOptions) -> list[Silence]:
    out, t = [], 0.0
    for a, b in [*talk, (duration_s, duration_s)]:
        if a - t >= opt.dead_air_s:
            out.append(Silence(round(float(t), 2), round(float(a), 2), a - t >= opt.hold_s))
        t = max(t, b)
    return out


def _rate_curve(rates: Sequence[tuple[float, float]]) -> tuple[RatePoint, ...]:
    buckets: dict[int, list[float]] = {}
    for t, rate in rates:
        if np.isfinite(rate) and rate > 0:
            buckets.setdefault(int(t // RATE_BUCKET_S), []).append(rate)
    return tuple(RatePoint(k * RATE_BUCKET_S, round(float(np.median(v)), 2)) for k, v in sorted(buckets.items()))


def summarise(
    spurts: Sequence[Spurt],
    roles: Sequence[Role],
    duration_s: float,
    options: DynamicsOptions | None = None,
    rates: dict[int, list[tuple[float, float]]] | None = None,
    unanalysed: Sequence[tuple[float, float]] = (),
) -> Dynamics:
    """Dynamics of a call (or of its first `duration_s`) from every channel's spurts so far.

    `roles`: one per channel; `rates`: per channel, (call time, speech rate in syllables/s) of its transcript
    sentences (Segment.speech_rate_sps: counted syllables over Whisper's word timings, r = 0.83 with CASIA's
    labelled rate against 0.42 for the acoustic syllable count), bucketed into the speech-rate curve; `unanalysed`: call-time
    stretches analysis skipped."""
    opt = options or DynamicsOptions()
    spurts = [s for s in spurts if s.end_s > s.start_s]
    talk = _union([(s.start_s, s.end_s) for s in spurts])
    overtalk = _overlaps(spurts) if len(roles) > 1 else []
    interruptions = _interruptions(spurts, opt) if len(roles) > 1 else []
    gaps = _union(list(unanalysed))
    known = _union(talk + gaps)  # silence is only claimed where the audio was analysed
    silences = _silences(known, duration_s, opt)
    per_channel = [sum(s.duration_s for s in spurts if s.channel == ch) for ch in range(len(roles))]
    total = sum(per_channel)
    pauses = [len(pause_gaps(spurts, ch, opt)) if len(roles) > 1 else 0 for ch in range(len(roles))]
    speakers = tuple(
        SpeakerTalk(
            channel=ch,
            role=role,
            talk_s=round(per_channel[ch], 2),
            talk_share=round(per_channel[ch] / total, 3) if total > 0 else 0.0,
            turns=sum(1 for s in spurts if s.channel == ch),
            interruptions_made=sum(1 for i in interruptions if i.by_channel == ch),
            speech_rate=_rate_curve((rates or {}).get(ch, [])),
            pauses=pauses[ch],
            pauses_per_min=round(60.0 * pauses[ch] / per_channel[ch], 2) if per_channel[ch] > 0 else 0.0,
        )
        for ch, role in enumerate(roles)
    )
    return Dynamics(
        duration_s=round(duration_s, 2),
        speakers=speakers,
        overtalk_s=round(sum(b - a for a, b in overtalk), 2),
        overtalk=tuple((round(a, 2), round(b, 2)) for a, b in overtalk),
        interruptions=tuple(interruptions),
        silences=tuple(silences),
        longest_silence_s=round(_longest_gap(known, duration_s), 2),
        non_talk_s=round(max(0.0, duration_s - sum(b - a for a, b in known)), 2),
        unanalysed=tuple((round(a, 2), round(b, 2)) for a, b in gaps),
        options=opt,
    )


def _longest_gap(talk: list[tuple[float, float]], duration_s: float) -> float:
    edges = [0.0, *(x for ab in talk for x in ab), duration_s]
    return max((edges[i + 1] - edges[i] for i in range(0, len(edges) - 1, 2)), default=0.0)


def to_dict(d: Dynamics) -> dict:
    """JSON-ready form (what the store keeps and the web API returns)."""
    out = dataclasses.asdict(d)
    for speaker, src in zip(out["speakers"], d.speakers, strict=True):
        speaker["role"] = src.role.value
    return out


def from_dict(d: dict) -> Dynamics:
    return Dynamics(
        duration_s=d["duration_s"],
        speakers=tuple(
            SpeakerTalk(
                **{**s, "role": Role(s["role"]), "speech_rate": tuple(RatePoint(**r) for r in s["speech_rate"])}
            )
            for s in d["speakers"]
        ),
        overtalk_s=d["overtalk_s"],
        overtalk=tuple(tuple(x) for x in d["overtalk"]),
        interruptions=tuple(Interruption(**i) for i in d["interruptions"]),
        silences=tuple(Silence(**s) for s in d["silences"]),
        longest_silence_s=d["longest_silence_s"],
        non_talk_s=d["non_talk_s"],
        unanalysed=tuple(tuple(x) for x in d.get("unanalysed", ())),
        options=DynamicsOptions(**d.get("options", {})),
    )
