"""Domain errors, rooted in one class; servicer.py maps them to gRPC status codes in one place."""

from __future__ import annotations


class CallguardError(Exception):
    """Base of every error Callguard raises on purpose."""


class InvalidInput(CallguardError):
    """The client sent something malformed: a bad config, a bad frame, messages out of order."""


class CallExists(CallguardError):
    """A call with that id is already stored."""


class CallNotFound(CallguardError):
    """No stored call has that id."""


class RetryLater(CallguardError):
    """A passing condition: the client may retry after `retry_after_s` (sent as a retry hint)."""

    def __init__(self, message: str, *, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Overloaded(RetryLater):
    """The server is at a configured capacity limit; the client may retry later."""


class StorageUnavailable(RetryLater):
    """The database cannot be reached or stays locked; nothing was changed, the client may retry."""


class ModelError(CallguardError):
    """A model could not be found, failed its checksum, or failed to load."""


class ConfigError(CallguardError):
    """A setting has an invalid value."""


class ShuttingDown(CallguardError):
    """The server is stopping and takes no new calls."""


class ServerFault(CallguardError):
    """Something failed on our side (e.g. the disk); the call is kept as far as it got and marked incomplete."""
