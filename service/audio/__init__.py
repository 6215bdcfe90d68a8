"""Audio as telephony sends it: G.711 / PCM decoding, WAV files, resampling for the models."""
