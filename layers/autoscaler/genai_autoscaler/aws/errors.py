"""Turning botocore errors into the controller's own, with what was being done."""

from __future__ import annotations

from botocore.exceptions import ClientError

from genai_autoscaler.errors import ActuationRejected, AutoscalerError, TransientAwsError

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalServerError",
        "InternalServiceError",
        "InternalServiceException",
        "ConcurrentUpdateException",
    }
)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: ClientError) -> bool:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return error_code(error) in _TRANSIENT_CODES or status >= 500


def translate(error: ClientError, doing: str) -> AutoscalerError:
    """A domain error saying what was being done and what AWS answered."""
    message = error.response.get("Error", {}).get("Message", str(error))
    text = f"{doing}: {error_code(error)}: {message}"
    return TransientAwsError(text) if is_transient(error) else ActuationRejected(text)
