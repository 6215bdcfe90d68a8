"""Callguard service: live call audio in over gRPC, transcript (and later emotion and alerts) out.

Data flow, by module:
    servicer.py (proto <-> domain) -> session.py (one CallSession per call)
      -> audio/ (decode G.711/PCM, resample) -> storage/ (audio as received, call rows)
      -> transcription/ (streaming VAD -> utterances -> shared Whisper pool) -> events back to the client.
"""
