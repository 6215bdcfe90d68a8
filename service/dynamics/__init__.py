"""Conversation dynamics: who talks when, over whom, and where the line goes quiet (issue 16, part 1)."""
