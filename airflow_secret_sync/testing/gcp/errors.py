"""Google's error model: a ``google.rpc.Code`` name, its HTTP status and the JSON error body."""

from __future__ import annotations

from typing import Any

# google.rpc.Code name -> HTTP status, as Google's front ends map them.
HTTP_STATUS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}


class ApiError(Exception):
    """An error the API reports, carried as a ``google.rpc.Status`` code name and a message."""

    def __init__(self, status: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []

    @property
    def http_code(self) -> int:
        """HTTP status code Google uses for this canonical code."""
        return HTTP_STATUS.get(self.status, 500)

    def to_json(self) -> dict[str, Any]:
        """Google's JSON error body."""
        error: dict[str, Any] = {"code": self.http_code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str) -> ApiError:
    """An ``INVALID_ARGUMENT`` error."""
    return ApiError("INVALID_ARGUMENT", message)
