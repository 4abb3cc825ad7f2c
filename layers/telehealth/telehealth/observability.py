"""Logger and tracer for a function, with the platform's PHI rules applied in one place.

Service names are passed in, not read from the environment, because locally every function shares
one process and one environment. The stack sets POWERTOOLS_TRACER_CAPTURE_RESPONSE/ERROR=false and
POWERTOOLS_LOGGER_LOG_EVENT=false as well; the arguments below hold even where it does not.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer


def logger_for(service: str) -> Logger:
    # log_uncaught_exceptions stays off: an exception message can carry a submitted value.
    return Logger(service=service, log_uncaught_exceptions=False)


def tracer_for(service: str) -> Tracer:
    return Tracer(service=service)


def metrics_for(service: str) -> Metrics:
    """Counts with the service and the tenant as dimensions (the alarms name both)."""
    import os

    metrics = Metrics(service=service, namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Telehealth"))
    # Tenants share an account and a namespace: each count says whose it is.
    metrics.set_default_dimensions(tenant=os.environ.get("TENANT_ID", "unknown"))
    return metrics
