"""Speech to text per channel: streaming VAD cuts utterances, one shared Whisper model transcribes them."""
