"""The exceptions the rmserve client raises: one hierarchy that mirrors the server's error table.

```
RewardServiceError              base of everything the client raises
├── ConnectionFailedError       the server could not be reached, still after the retries
├── ClientTimeoutError          the call's total timeout ran out (also a builtin TimeoutError)
├── UnexpectedResponseError     a 2xx answer the client cannot read (wrong shape, wrong length, model changed)
└── APIStatusError              the server answered with an error status; .status_code .error_type .message
    ├── InvalidRequestError     422 (and 400): the request failed validation
    ├── PayloadTooLargeError    413: body, item count or text length over the server's limits
    ├── AuthenticationError     401 (and 403): missing or wrong API key
    ├── OverloadedError         429 / 503 once the retries ran out; .retry_after_s
    ├── DeadlineExceededError   504: the server's per-request deadline passed before the work was done
    └── ServerError             500 and any other 5xx: the backend failed (the message is safe to show)
```
Other statuses (404 for a wrong URL, for instance) raise `APIStatusError` itself.

The server's body is `{"error": {"type": str, "message": str}}`; `error_type` and `message` carry it, or the
status line and a prefix of the raw body when a proxy answered instead.
"""

from __future__ import annotations


class RewardServiceError(Exception):
    """Base of every error raised by `RewardClient` and `AsyncRewardClient`."""


class ConnectionFailedError(RewardServiceError):
    """The server could not be reached (connect, read or protocol error), still after the retries."""


class ClientTimeoutError(RewardServiceError, TimeoutError):
    """The call's total timeout (`timeout_s`, retries and waits included) ran out."""


class UnexpectedResponseError(RewardServiceError):
    """A success status whose body is not what the API promises (bad JSON, missing field, wrong length)."""


class APIStatusError(RewardServiceError):
    """The server answered with an error status.

    `status_code` is the HTTP status, `error_type` the server's machine-readable type (for example
    "validation_error") and `message` its human-readable text.
    """

    def __init__(self, status_code: int, error_type: str, message: str) -> None:
        super().__init__(f"{status_code} {error_type}: {message}")
        self.status_code = status_code
        self.error_type = error_type
        self.message = message


class InvalidRequestError(APIStatusError):
    """422 (or 400): the request failed the server's validation; fix the input, do not retry."""


class PayloadTooLargeError(APIStatusError):
    """413: the body, the item count or a text is over the server's limits."""


class AuthenticationError(APIStatusError):
    """401 (or 403): the API key is missing or wrong."""


class OverloadedError(APIStatusError):
    """429 or 503 after the client's retries ran out. `retry_after_s` is the server's last hint, if any."""

    def __init__(self, status_code: int, error_type: str, message: str, retry_after_s: float | None) -> None:
        super().__init__(status_code, error_type, message)
        self.retry_after_s = retry_after_s


class DeadlineExceededError(APIStatusError):
    """504: the server's deadline for the request passed before it was scored."""


class ServerError(APIStatusError):
    """500 or another 5xx: the server failed; the message holds no input text."""


def error_for_status(
    status_code: int, error_type: str, message: str, retry_after_s: float | None = None
) -> APIStatusError:
    """The exception for one error response: the one table from status code to exception class."""
    if status_code in (429, 503):
        return OverloadedError(status_code, error_type, message, retry_after_s)
    table: dict[int, type[APIStatusError]] = {
        400: InvalidRequestError,
        401: AuthenticationError,
        403: AuthenticationError,
        413: PayloadTooLargeError,
        422: InvalidRequestError,
        504: DeadlineExceededError,
    }
    fallback = ServerError if status_code >= 500 else APIStatusError
    return table.get(status_code, fallback)(status_code, error_type, message)
