"""Telling an AWS service's outage from a request it refused, for the callers that must wait out
the one (a lane of the outbox stops) and give up on the other (the entry is retried, then parked).
"""

from __future__ import annotations


def is_outage(error: Exception) -> bool:
    """Unavailable, unreachable or throttling us: the call may succeed later unchanged."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(error, ConnectionError | HTTPClientError):
        return True
    if error.__class__.__name__ == "BusRejectedError":  # PutEvents answers 200 and fails entries
        return getattr(error, "code", "") in ("ThrottlingException", "InternalFailure", "InternalException")
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        code = str(error.response.get("Error", {}).get("Code", ""))
        return status >= 500 or status == 429 or "Throttl" in code or code == "ServiceUnavailable"
    return False
