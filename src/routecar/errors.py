"""`ApiError`: an answer routecar gives instead of an upstream's, raised before or around
dispatch (bad input, unknown model, over budget, draining) and turned into the entry point's
error shape by the server (docs/http-api.md). It lives here, below every package that raises it.
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        outcome: str = "bad_request",
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type
        self.param = param
        self.outcome = outcome  # the route log's outcome for this answer
        self.retry_after = retry_after
