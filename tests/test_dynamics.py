"""Conversation dynamics (issue 16): talk, overtalk, interruptions and silences, on a stereo call built from
real speech with known timing, streamed through the real server; and the rules on exact talk spurts."""

from __future__ import annotations

import numpy as np
import pytest
from callguard.v1 import callguard_pb2 as pb

from features.corpus import Clip
from service.client import StreamOptions, requests_for
from service.domain import Role
from service.dynamics.conversation import summarise
from service.dynamics.talk import DynamicsOptions, Spurt, TalkTracker
from service.simulate import Turn, build_call, normalise_peak
from tests.test_vad import speech_extent

RATE = 8000
ROLES = (Role.CUSTOMER, Role.AGENT)


# ---- the rules, on exact spurts ------------------------------------------------------------------------
def test_pauses_under_half_a_second_do_not_end_a_turn() -> None:
    tracker, spurts = TalkTracker(0), []
    pattern = [
        (0.0, 2.0, True),
        (2.0, 2.4, False),
        (2.4, 4.0, True),
        (4.0, 6.0, False),
        (6.0, 6.1, True),
        (6.1, 8.0, False),
    ]
    for a, b, speech in pattern:
        for t in np.arange(a, b - 1e-9, 0.032):
            spurts += tracker.observe(float(t), 0.032, speech)
    spurts += tracker.gap()
    # one turn 0-4 s across the 0.4 s pause; the 0.1 s click at 6 s is not talk
    assert len(spurts) == 1
    assert spurts[0].start_s == pytest.approx(0.0, abs=0.04) and spurts[0].end_s == pytest.approx(4.0, abs=0.04)


def test_interruption_backchannel_and_simultaneous_start() -> None:
    spurts = [
        Spurt(0, 0.0, 6.0),  # customer talks
        Spurt(1, 2.0, 7.0),  # agent starts 2 s in and talks over for 4 s: an interruption of the customer
        Spurt(0, 10.0, 15.0),
        Spurt(1, 12.0, 12.3),  # "嗯" under the customer's turn: overtalk, not an interruption
        Spurt(0, 20.0, 23.0),
        Spurt(1, 20.4, 23.0),  # both start together (0.4 s apart): overtalk, nobody interrupted
    ]
    d = summarise(spurts, ROLES, 30.0)
    assert [(i.by_channel, i.of_channel, i.start_s, i.overlap_s) for i in d.interruptions] == [(1, 0, 2.0, 4.0)]
    assert d.overtalk == ((2.0, 6.0), (12.0, 12.3), (20.4, 23.0))
    assert d.overtalk_s == pytest.approx(4.0 + 0.3 + 2.6)
    assert d.speakers[1].interruptions_made == 1 and d.speakers[0].interruptions_made == 0


def test_pauses_inside_a_speakers_own_turn() -> None:
    spurts = [
        Spurt(0, 0.0, 3.0),
        Spurt(0, 4.0, 6.0),  # 1 s pause, nobody else talking: a pause in her turn
        Spurt(0, 8.5, 10.0),  # 2.5 s: still a pause
        Spurt(1, 11.0, 13.0),  # the agent answers
        Spurt(0, 14.0, 16.0),  # the gap 10-14 s held the agent's turn: a turn change, not her pause
        Spurt(0, 20.0, 22.0),  # 4 s: waiting, not hesitating (over pause_max_s)
        Spurt(1, 22.5, 23.0),
        Spurt(1, 23.6, 24.0),  # the agent's 0.6 s pause
    ]
    d = summarise(spurts, ROLES, 30.0)
    assert (d.speakers[0].pauses, d.speakers[1].pauses) == (2, 1)
    assert d.speakers[0].pauses_per_min == pytest.approx(60 * 2 / 10.5, abs=0.01)  # 10.5 s of her talk
    assert summarise(spurts, ROLES, 30.0, DynamicsOptions(pause_max_s=5.0)).speakers[0].pauses == 3
    assert summarise([s for s in spurts if s.channel == 0], (Role.CUSTOMER,), 30.0).speakers[0].pauses == 0  # mono


def test_silences_holds_shares_and_a_mono_call() -> None:
    spurts = [Spurt(0, 1.0, 4.0), Spurt(1, 4.5, 6.0), Spurt(0, 12.0, 14.0), Spurt(1, 50.0, 52.0)]
    d = summarise(spurts, ROLES, 60.0, DynamicsOptions(dead_air_s=5.0, hold_s=30.0))
    assert [(s.start_s, s.end_s, s.hold_like) for s in d.silences] == [
        (6.0, 12.0, False),
        (14.0, 50.0, True),
        (52.0, 60.0, False),
    ]
    assert d.longest_silence_s == 36.0 and d.hold_s == 36.0
    assert d.non_talk_s == pytest.approx(60.0 - 8.5)
    assert [s.talk_s for s in d.speakers] == [5.0, 3.5]
    assert [s.talk_share for s in d.speakers] == [pytest.approx(5 / 8.5, abs=1e-3), pytest.approx(3.5 / 8.5, abs=1e-3)]
    mono = summarise([Spurt(0, 0.0, 5.0), Spurt(0, 4.0, 8.0)], (Role.CUSTOMER,), 10.0)
    assert mono.interruptions == () and mono.overtalk_s == 0.0  # one channel cannot tell two speakers apart
    # a stretch analysis skipped is neither talk nor silence: the 36 s silence is reported as the two around it
    cut = summarise(spurts, ROLES, 60.0, unanalysed=[(30.0, 31.0)])
    assert [(s.start_s, s.end_s) for s in cut.silences] == [(6.0, 12.0), (14.0, 30.0), (31.0, 50.0), (52.0, 60.0)]
    assert cut.longest_silence_s == 19.0 and cut.hold_s == 0.0 and cut.unanalysed == ((30.0, 31.0),)


# ---- a real call through the real server ------------------------------------------------------------------
def _speech(clip: Clip, *, peak: bool = True) -> np.ndarray:
    """The clip at 8 kHz trimmed to its speech, peak-normalised unless `peak` is false."""
    audio = clip.load(RATE)
    a, b = speech_extent(clip.load(16000))  # (speech_extent reads 10 ms frames at 16 kHz)
    trimmed = audio[int(a * RATE) : int(b * RATE)]
    return normalise_peak(trimmed) if peak else trimmed


@pytest.fixture(scope="module")
def timed_call(ravdess, casia):
    return build_timed_call(ravdess, casia)


def build_timed_call(ravdess: list[Clip], casia: list[Clip]):  # type: ignore[no-untyped-def]
    """Customer (a Mandarin voice) and agent (an English voice) on separate channels, with known timing:
    0: customer talks ~5 s (four sentences, 0.2 s pauses); the agent cuts in 2 s after she starts and talks over her; 12 s of dead air;
    a question and an answer with a 0.6 s gap; 34 s of hold; the customer again."""
    cust = [c for c in casia if c.speaker == "casia_liuchanhg" and c.emotion == "neutral"]
    agent = [c for c in ravdess if c.speaker == "ravdess_02" and c.emotion == "neutral"]
    pause = np.zeros(int(0.2 * RATE), np.float32)  # pauses inside the turn, under the 0.5 s bridge
    long_turn = np.concatenate([x for c in cust[:4] for x in (_speech(c), pause)][:-1])
    cut_in = _speech(agent[0])
    turns = [Turn(0, 1.0, long_turn), Turn(1, 3.0, cut_in)]
    t = max(1.0 + len(long_turn) / RATE, 3.0 + len(cut_in) / RATE)
    dead_air = (t, t + 12.0)
    question, answer = _speech(cust[4]), _speech(agent[1])
    q_start = dead_air[1]
    turns += [Turn(0, q_start, question), Turn(1, q_start + len(question) / RATE + 0.6, answer)]
    hold_start = q_start + (len(question) + len(answer)) / RATE + 0.6
    hold = (hold_start, hold_start + 34.0)
    last = _speech(cust[5])
    turns.append(Turn(0, hold[1], last))
    audio = build_call(turns, sample_rate_hz=RATE)
    expected = {
        "cut_in_s": 3.0,
        "overlap_s": min(1.0 + len(long_turn) / RATE, 3.0 + len(cut_in) / RATE) - 3.0,
        "dead_air": dead_air,
        "hold": hold,
        "talk_s": [sum(len(x.audio) for x in turns if x.channel == ch) / RATE for ch in (0, 1)],
    }
    return audio, expected


@pytest.fixture
def timed_events(stub, timed_call):
    audio, _ = timed_call
    # at 4x real time: faster, analysis on this 2-core machine falls behind and skips audio (reported as unanalysed)
    opts = StreamOptions(
        call_id="dynamics-timed", language="auto", metadata={"agent": "a-9", "queue": "care"}, realtime=True, speed=4.0
    )
    return list(stub.StreamCall(requests_for(audio, opts), timeout=300))


def test_live_and_stored_dynamics_of_a_call_with_known_timing(stub, timed_call, timed_events) -> None:
    _, want = timed_call
    updates = [e.dynamics for e in timed_events if e.WhichOneof("event") == "dynamics"]
    assert len(updates) >= 5, "an update every 10 s of a ~60 s call, and the final one"
    assert [u.duration_s for u in updates] == sorted(u.duration_s for u in updates)
    final = updates[-1]
    assert not final.unanalysed, "paced at 4x real time, analysis keeps up"
    assert timed_events[-1].WhichOneof("event") == "ended" and final.duration_s == pytest.approx(
        timed_events[-1].ended.duration_s, abs=0.05
    )

    # the agent cut in on the customer once, at 3.0 s, talking over her for the rest of her turn
    assert [(i.by_role, i.of_role) for i in final.interruptions] == [(pb.AGENT, pb.CUSTOMER)]
    cut = final.interruptions[0]
    assert cut.start_s == pytest.approx(want["cut_in_s"], abs=0.3)
    assert cut.overlap_s == pytest.approx(want["overlap_s"], abs=0.5)
    assert final.overtalk_s == pytest.approx(want["overlap_s"], abs=0.6)
    assert final.speakers[1].interruptions_made == 1 and final.speakers[0].interruptions_made == 0

    # the 12 s of dead air and the 34 s hold, where they were made
    silences = [(s.start_s, s.end_s, s.hold_like) for s in final.silences]
    dead = [s for s in silences if s[0] == pytest.approx(want["dead_air"][0], abs=0.6)]
    hold = [s for s in silences if s[2]]
    assert len(dead) == 1 and not dead[0][2] and dead[0][1] == pytest.approx(want["dead_air"][1], abs=0.6)
    assert len(hold) == 1 and hold[0][0] == pytest.approx(want["hold"][0], abs=0.6)
    assert hold[0][1] == pytest.approx(want["hold"][1], abs=0.6)
    assert final.longest_silence_s == pytest.approx(34.0, abs=1.2) and final.hold_s == pytest.approx(34.0, abs=1.2)
    # the 0.6 s turn gap between question and answer is not dead air
    assert len(silences) <= 3

    # talk per speaker close to the speech placed on each channel (the VAD pads and trims a little)
    for ch in (0, 1):
        assert final.speakers[ch].talk_s == pytest.approx(want["talk_s"][ch], rel=0.2, abs=0.6)
    assert final.speakers[0].talk_share + final.speakers[1].talk_share == pytest.approx(1.0, abs=0.01)
    assert final.speakers[0].talk_share > final.speakers[1].talk_share  # the customer talked more
    assert all(p.speech_rate_sps > 0 for p in final.speakers[0].speech_rate)
    assert final.speakers[0].speech_rate, "the customer's speech rate over the call"

    stored = stub.GetCall(pb.GetCallRequest(call_id="dynamics-timed"))
    assert stored.dynamics == final
    s = stored.summary
    assert s.interruptions == 1 and s.overtalk_s == pytest.approx(final.overtalk_s, abs=0.01)
    assert s.customer_talk_share == pytest.approx(final.speakers[0].talk_share, abs=1e-3)
    assert s.agent_talk_share == pytest.approx(final.speakers[1].talk_share, abs=1e-3)
    assert s.longest_silence_s == pytest.approx(final.longest_silence_s, abs=0.01)
