"""Logger and tracer for a function, with the platform's PHI rules applied in one place.

Service names are passed in, not read from the environment, because locally every function shares
one process and one environment. The stack sets POWERTOOLS_TRACER_CAPTURE_RESPONSE/ERROR=false and
POWERTOOLS_LOGGER_LOG_EVENT=false as well; the arguments below hold even where it does not.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Tracer


def logger_for(service: str) -> Logger:
    # log_uncaught_exceptions stays off: an exception message can carry a submitted value.
    return Logger(service=service, log_uncaught_exceptions=False)


def tracer_for(service: str) -> Tracer:
    return Tracer(service=service)
