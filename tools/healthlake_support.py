"""`python -m tools.healthlake_support`: print what HealthLake supports and the facade offers, as the
local HealthLake stand-in reads it (committed as local/standins/healthlake/support.json by
`make docs`; tests/unit/test_healthlake_support.py fails when the two differ)."""

from __future__ import annotations

import json

from telehealth.fhir.healthlake_support import document


def main() -> None:
    print(json.dumps(document(), indent=2))


if __name__ == "__main__":
    main()
