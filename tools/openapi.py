"""`python -m tools.openapi`: print the API's OpenAPI document, as the API serves it (committed as
docs/openapi.json by `make docs`; tests/unit/test_openapi.py fails when the two differ)."""

from __future__ import annotations

import json
import os


def main() -> None:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from functions.api.contract import document
    from functions.api.handler import app

    print(json.dumps(document(app), indent=2))


if __name__ == "__main__":
    main()
