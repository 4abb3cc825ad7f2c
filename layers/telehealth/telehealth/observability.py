"""Logger and tracer for a function, with the platform's PHI rules applied in one place.

Service names are passed in, not read from the environment, because locally every function shares
one process and one environment. The stack sets POWERTOOLS_TRACER_CAPTURE_RESPONSE/ERROR=false and
POWERTOOLS_LOGGER_LOG_EVENT=false as well; the arguments below hold even where it does not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer


def logger_for(service: str) -> Logger:
    # log_uncaught_exceptions stays off: an exception message can carry a submitted value.
    return Logger(service=service, log_uncaught_exceptions=False)


def tracer_for(service: str) -> Tracer:
    return Tracer(service=service)


def traced_from_first_call(service: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A handler decorator like the tracer's, with the tracer made on the first invocation: the
    X-Ray SDK it loads (a fifth of a second) then stays out of the import, which every cold start
    pays before any route is known. Responses and errors are never captured (they hold PHI)."""

    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.cache
        def traced() -> Callable[..., Any]:
            return tracer_for(service).capture_lambda_handler(
                handler, capture_response=False, capture_error=False
            )

        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            return traced()(event, context)

        return invoke

    return decorate


def metrics_for(service: str) -> Metrics:
    """Counts with the service and the tenant as dimensions (the alarms name both)."""
    import os

    metrics = Metrics(service=service, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Telehealth"))
    # Tenants share an account and a namespace: each count says whose it is.
    metrics.set_default_dimensions(tenant=os.environ.get("TENANT_ID", "unknown"))
    return metrics
