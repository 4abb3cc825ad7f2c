"""The shared package imports one way: domain <- ports <- application; adapters are built only in
the composition roots (functions/services.py, and the media worker's main). Read from the source,
so a stray import fails here before it couples a use case to AWS."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "telehealth" / "telehealth"
ROOT = PACKAGE.parents[2]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_domain_ports_and_application_import_no_adapter_and_no_aws_sdk() -> None:
    offending = {
        f"{path.relative_to(PACKAGE)}: {module}"
        for layer in ("domain", "ports", "application")
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for module in _imports(path)
        if module.startswith(("telehealth.adapters", "boto3", "botocore"))
    }
    assert offending == set()


def test_only_the_composition_roots_build_the_clinic_tables_stores() -> None:
    stores = ("DynamoSchedulingStore(", "DynamoVisitStore(", "DynamoVitalsStore(")
    building = {
        str(path.relative_to(ROOT))
        for folder in ("functions", "layers/telehealth/telehealth/application", "local/standins")
        for path in (ROOT / folder).rglob("*.py")
        if any(s in path.read_text() for s in stores)
    }
    assert building == {"functions/services.py"}
