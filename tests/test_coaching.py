"""Coaching moments (issue 16): the agent talking over an upset customer, and the agent's voice rising after
the customer's (emotion contagion), on exact timelines and on a stereo call built from real speech streamed
through the real server; they reach the analysis table, never a supervisor's page."""

from __future__ import annotations

import numpy as np
import pytest
from callguard.v1 import callguard_pb2 as pb

from service.domain import Role
from service.dynamics.conversation import Interruption, summarise
from service.dynamics.talk import Spurt
from service.escalation.coaching import coaching_moments
from service.escalation.policy import CoachingRule
from service.simulate import Turn, build_call
from service.web import analysis
from tests.test_escalation import _stream, estimate
from tests.test_outcome import _speech_clips

ROLES = (Role.CUSTOMER, Role.AGENT)
RULE = CoachingRule()


def test_interrupting_an_upset_customer_is_a_coaching_moment_and_a_calm_one_is_not() -> None:
    customer = [(0, estimate(float(t), 0.8 if t < 20 else 0.1)) for t in range(5, 40)]
    spurts = [Spurt(0, 4.0, 19.0), Spurt(1, 15.0, 18.0), Spurt(0, 25.0, 35.0), Spurt(1, 30.0, 33.0)]
    d = summarise(spurts, ROLES, 40.0)
    assert [(i.by_channel, i.start_s) for i in d.interruptions] == [(1, 15.0), (1, 30.0)]
    moments = coaching_moments(ROLES, customer, d, RULE)
    assert [(m.kind, m.t_s) for m in moments] == [("AGENT_INTERRUPTED", 15.0)]  # at 30 s the customer was calm
    assert "customer anger 0.80" in moments[0].evidence
    # the customer cutting in on the agent is not the agent's coaching moment
    d2 = summarise([Spurt(1, 4.0, 19.0), Spurt(0, 15.0, 18.0)], ROLES, 20.0)
    assert d2.interruptions == (Interruption(0, 1, 15.0, 3.0),) and not coaching_moments(ROLES, customer, d2, RULE)


def test_the_agents_voice_rising_after_the_customers_anger_is_contagion_once_per_episode() -> None:
    customer = [(0, estimate(float(t), 0.8 if 10 <= t < 14 else 0.1)) for t in range(5, 100)]
    agent_calm = estimate(0.0, 0.1)
    hot = [(1, estimate(float(t), 0.7)) for t in (20, 21, 22)]  # angry for 3 s, 10 s after the customer
    one_off = [(1, estimate(80.0, 0.9))]  # a single hot estimate, long after: not a moment
    calm = [(1, agent_calm)]
    moments = coaching_moments(ROLES, customer + calm + hot + one_off, None, RULE)
    assert [(m.kind, m.channel, m.t_s) for m in moments] == [("AGENT_CONTAGION", 1, 20.0)]
    assert "10 s after the customer's anger (0.80)" in moments[0].evidence  # upset from 10 s
    mono = coaching_moments((Role.CUSTOMER,), customer, None, RULE)
    assert mono == []


def _contagion_call(ravdess):
    """Customer ravdess_21, agent ravdess_07: calm turns, then the customer shouts for ~12 s and the agent cuts
    in 5 s into it; then the agent answers angrily (ravdess_07's angry sentences)."""
    customer = _speech_clips(ravdess, "ravdess_21")
    agent = _speech_clips(ravdess, "ravdess_07")
    turns, t = [], 0.5
    for i in range(6):  # calm exchange: both voices' baselines
        for ch, clips in ((0, customer), (1, agent)):
            turns.append(Turn(ch, t, clips["calm"][i]))
            t += len(clips["calm"][i]) / 8000 + 0.6
    shout = np.concatenate([x for a in customer["strong"][:3] for x in (a, np.zeros(1600, np.float32))])
    shout_start = t
    turns.append(Turn(0, shout_start, shout))
    cut_in = shout_start + 5.0
    turns.append(Turn(1, cut_in, agent["calm"][6]))
    t = max(shout_start + len(shout) / 8000, cut_in + len(agent["calm"][6]) / 8000) + 0.6
    for a in agent["strong"][:3]:  # the agent snaps back
        turns.append(Turn(1, t, a))
        t += len(a) / 8000 + 0.6
    return build_call(turns, sample_rate_hz=8000), cut_in, shout_start


def test_coaching_moments_on_a_call_from_real_speech(stub, address, ravdess) -> None:
    from tests.test_escalation import Subscriber

    audio, cut_in, shout_start = _contagion_call(ravdess)
    supervisor = Subscriber(address, call_id="coach-contagion")
    try:
        _stream(stub, type("C", (), {"audio": audio})(), "coach-contagion", agent="zhao", queue="care")
    finally:
        supervisor.close()
    call = stub.GetCall(pb.GetCallRequest(call_id="coach-contagion"))
    kinds = {m.kind: m for m in call.coaching}
    assert set(kinds) == {"AGENT_INTERRUPTED", "AGENT_CONTAGION"}, list(call.coaching)
    assert kinds["AGENT_INTERRUPTED"].t_s == pytest.approx(cut_in, abs=0.5)
    assert kinds["AGENT_CONTAGION"].t_s > shout_start and all(
        m.role == pb.AGENT and m.channel == 1 for m in call.coaching
    )
    # the supervisor on duty was paged for the customer's anger only, never for the agent's side
    paged = {r for a in supervisor.for_call("coach-contagion") for r in a.reasons}
    assert "ANGER_SUSTAINED" in paged and "AGENT_ANGER" not in paged
    rows = analysis.rows(call.summary, call.alerts, call.outcomes, call.coaching)
    coaching = [r for r in rows if r["status"] == "COACHING"]
    assert [r["emotion"] for r in coaching] == sorted(
        (analysis.COACHING[m.kind][0] for m in call.coaching), key=lambda e: 0 if "interrupted" in e else 1
    )
    assert all(r["speaker"] == "agent (ch1)" and r["agent"] == "zhao" and r["suggested_action"] for r in coaching)
    assert [float(r["call_time_s"]) for r in rows] == sorted(float(r["call_time_s"]) for r in rows)
