"""Escalation: from emotion estimates and transcript text to alerts a supervisor can trust.

policy.py (what counts, from a TOML file) -> detector.py (per-call state: hysteresis, sustain, cooldown,
phrases) -> alerts.py (the Alert record, one open per call and reason) -> bus.py (fan-out to subscribers).
"""
