"""The one error the evaluator raises, typed the way Prometheus's HTTP API reports errors."""

from __future__ import annotations

from typing import Literal

ErrorType = Literal["bad_data", "execution"]


class PromQLError(Exception):
    """A query the evaluator refuses: unparseable, unsupported, or failing at evaluation.

    `error_type` is Prometheus's `errorType`: "bad_data" (HTTP 400) for parse errors and
    constructs this evaluator does not implement (it refuses rather than guess an answer),
    "execution" (HTTP 422) for errors Prometheus itself raises while evaluating, such as
    many-to-many vector matching.
    """

    def __init__(self, message: str, error_type: ErrorType = "bad_data") -> None:
        super().__init__(message)
        self.message = message
        self.error_type: ErrorType = error_type

    @property
    def http_status(self) -> int:
        return 400 if self.error_type == "bad_data" else 422


def unsupported(what: str) -> PromQLError:
    return PromQLError(f"{what} is not supported by the simulator's PromQL evaluator")
