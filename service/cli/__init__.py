"""The `callguard` command: serve, and client subcommands for telephony (stream) and QA (calls, show, audio)."""
