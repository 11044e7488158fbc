"""Errors the protocol reports with a type and whether a retry can help."""

from __future__ import annotations


class TrainerError(Exception):
    """An error with a protocol type. retryable=False means the same request will fail again
    (bad input, missing model): the TS side turns it into a non-retryable ApplicationFailure."""

    def __init__(self, type_: str, message: str, retryable: bool = False):
        super().__init__(message)
        self.type = type_
        self.message = message
        self.retryable = retryable

    def to_json(self) -> dict:
        return {"type": self.type, "message": self.message, "retryable": self.retryable}
