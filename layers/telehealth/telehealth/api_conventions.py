"""Conventions of the HTTP API that both the stack (API Gateway) and the API function follow."""

from __future__ import annotations

# CORS for a portal served from another origin: API Gateway answers the preflight, the function
# adds the headers to its responses; both allow the same.
CORS_ALLOW_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key")
CORS_ALLOW_METHODS = ("GET", "POST", "PUT", "DELETE", "OPTIONS")
CORS_MAX_AGE_S = 600
