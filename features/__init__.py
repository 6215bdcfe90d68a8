"""Prosody features, corpora and the emotion model (issue #3 builds on these helpers)."""
