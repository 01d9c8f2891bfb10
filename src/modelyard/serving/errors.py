"""What serving a model through a replica raises; the API maps each class to one status.

    ServingError
    ├── ReplicaFailed          the worker did not start: the model did not load, or the
    │                          worker died or never said it was ready
    ├── ReplicaGone            the worker died (or its connection broke) before it answered  (502)
    ├── PredictionFailed       the model answered with an error; ``kind`` says whose fault:
    │                          "invalid" the request's data (422), "model" the model's code (500)
    └── PredictionTimeout      no answer within the time allowed  (504)
        (also TimeoutError)

These are the serving layer's own: a replica raises nothing of ``modelyard.errors``.
"""

from __future__ import annotations

from modelyard.serving.protocol import ErrorKind


class ServingError(Exception):
    """Base of the errors a replica raises; ``message`` is for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReplicaFailed(ServingError):
    """The worker could not be started, or its model could not be loaded."""


class ReplicaGone(ServingError):
    """The worker process died, or its connection broke, before it answered."""


class PredictionFailed(ServingError):
    """The model's code raised: ``kind`` is "invalid" when it refused the request's data
    (the message names the field), "model" for any other fault."""

    def __init__(self, message: str, kind: ErrorKind) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind


class PredictionTimeout(ServingError, TimeoutError):
    """The worker did not answer in time (the model may still be working on it)."""
