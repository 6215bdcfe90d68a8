"""Coaching moments: what the handbooks coach agents on, found in a call after the fact. They go into the
analysis table for the team lead, not to the supervisor on duty (see also the AGENT_ANGER rule, `page = false`).

- AGENT_INTERRUPTED: the agent started talking over the customer (an interruption in the call's conversation
  dynamics) while the customer was upset: their anger or disappointment reached `upset_line` in the
  `upset_window_s` before it. "Listen without interrupting."
- AGENT_CONTAGION: within `contagion_window_s` after the customer was upset, the agent's own voice rose
  (loudness `raised_voice_db` over their baseline) or sounded angry (anger at `upset_line`) for two estimates in
  a row. "Keep your own emotions in check" (emotion contagion). One per customer upset episode.
Rules and defaults: the policy file's [coaching] table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.domain import Role
from service.dynamics.conversation import Dynamics
from service.emotion import EmotionEstimate
from service.escalation.policy import CoachingRule


@dataclass(frozen=True)
class CoachingMoment:
    kind: str  # AGENT_INTERRUPTED | AGENT_CONTAGION
    channel: int  # the agent's channel
    t_s: float
    evidence: str


def _clock(t: float) -> str:
    return f"{int(t // 60)}:{t % 60:04.1f}"


def _upset(e: EmotionEstimate) -> float:
    return max(e.anger, e.disappointment)


def coaching_moments(
    roles: Sequence[Role],
    estimates: Sequence[tuple[int, EmotionEstimate]],
    dynamics: Dynamics | None,
    rule: CoachingRule,
) -> list[CoachingMoment]:
    """Coaching moments of a stereo call (customer and agent channels), in call-time order."""
    customer = [e for ch, e in estimates if roles[ch] is Role.CUSTOMER]
    agents = {ch for ch, r in enumerate(roles) if r is Role.AGENT}
    if not customer or not agents:
        return []
    out = []
    for cut in dynamics.interruptions if dynamics is not None else ():
        if cut.by_channel not in agents or roles[cut.of_channel] is not Role.CUSTOMER:
            continue
        before = [e for e in customer if cut.start_s - rule.upset_window_s <= e.end_s <= cut.start_s + 1.0]
        worst = max(before, key=_upset, default=None)
        if worst is not None and _upset(worst) >= rule.upset_line:
            score = "anger" if worst.anger >= worst.disappointment else "disappointment"
            out.append(CoachingMoment(
                "AGENT_INTERRUPTED", cut.by_channel, cut.start_s,
                f"the agent talked over the upset customer at {_clock(cut.start_s)} for {cut.overlap_s:.1f} s "
                f"(customer {score} {_upset(worst):.2f} just before)",
            ))  # fmt: skip
    for ch in sorted(agents):
        agent = [e for c, e in estimates if c == ch]
        until = -1.0  # one moment per customer upset episode: skip upsets inside the last window
        for upset in (e for e in customer if _upset(e) >= rule.upset_line):
            if upset.end_s <= until:
                continue
            window = [e for e in agent if upset.end_s < e.end_s <= upset.end_s + rule.contagion_window_s]
            hot = [e.anger >= rule.upset_line or e.loudness_db_vs_baseline >= rule.raised_voice_db for e in window]
            hit = next((i for i in range(len(hot) - 1) if hot[i] and hot[i + 1]), None)
            if hit is None:
                continue
            e = window[hit]
            out.append(CoachingMoment(
                "AGENT_CONTAGION", ch, e.end_s,
                f"the agent's voice rose {e.end_s - upset.end_s:.0f} s after the customer's "
                f"{'anger' if upset.anger >= upset.disappointment else 'disappointment'} ({_upset(upset):.2f}): "
                f"anger {e.anger:.2f}, loudness {e.loudness_db_vs_baseline:+.1f} dB vs. baseline",
            ))  # fmt: skip
            until = upset.end_s + rule.contagion_window_s
    return sorted(out, key=lambda m: m.t_s)
