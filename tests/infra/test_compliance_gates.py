"""The gates `make test` holds every template to: cdk-nag HIPAA, the BAA allow-list, cfn-lint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_s3 as s3

from infra import compliance
from tests.conftest import Assembly

ROOT = Path(__file__).resolve().parents[2]


def test_the_whole_app_passes_the_hipaa_pack_with_nothing_unacknowledged(assembly: Assembly) -> None:
    report = json.loads((assembly.outdir / "validation-report.json").read_text())
    findings = [v for plugin in report["pluginReports"] for v in plugin["violations"]]
    assert findings == []
    assert {"telehealth-riverside", "telehealth-desert-clinic"} <= set(assembly.templates)


def _findings_for_plain_bucket(outdir: Path, *, acknowledge_replication: bool) -> set[str]:
    """Synthesize one bucket that is private but has no KMS key, logging or replication."""
    app = App(outdir=str(outdir))
    compliance.enable_hipaa_checks(app)
    stack = Stack(app, "probe")
    bucket = s3.Bucket(
        stack, "Plain", enforce_ssl=True, versioned=True, block_public_access=s3.BlockPublicAccess.BLOCK_ALL
    )
    if acknowledge_replication:
        compliance.acknowledge(bucket, "bucket-replication")
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((outdir / "validation-report.json").read_text())
    return {v["ruleName"] for plugin in report["pluginReports"] for v in plugin["violations"]}


def test_an_unacknowledged_finding_fails_the_synth(tmp_path: Path) -> None:
    findings = _findings_for_plain_bucket(tmp_path, acknowledge_replication=False)
    assert {"HIPAA.Security-S3BucketReplicationEnabled", "HIPAA.Security-S3DefaultEncryptionKMS"} <= findings


def test_acknowledging_one_rule_does_not_hide_the_others(tmp_path: Path) -> None:
    findings = _findings_for_plain_bucket(tmp_path, acknowledge_replication=True)
    assert "HIPAA.Security-S3BucketReplicationEnabled" not in findings
    assert "HIPAA.Security-S3DefaultEncryptionKMS" in findings


def test_every_registered_acknowledgment_is_in_use_and_documented(assembly: Assembly) -> None:
    used: set[str] = set()
    for stack in assembly.templates:
        if stack.endswith(".nested"):
            continue  # a nested stack's metadata is its parent's
        for entries in assembly.metadata(stack).values():
            for entry in entries:
                if entry["type"] == "aws:cdk:acknowledged-rules":
                    # CDK acknowledges some of its own template-validation rules too; not ours.
                    used |= {reason for rule, reason in entry["data"].items() if "HIPAA." in rule}
    registered = {ack.reason for ack in compliance.ACKNOWLEDGMENTS.values()}
    assert registered == used, "an acknowledgment is registered but applied nowhere (or the reverse)"
    doc = (ROOT / "docs" / "compliance.md").read_text()
    assert doc == compliance.render_compliance_doc(), "docs/compliance.md is stale: run `make docs`"


def test_every_resource_type_is_on_the_baa_allow_list(assembly: Assembly) -> None:
    seen = {r["Type"] for t in assembly.templates.values() for r in t.resources.values()}
    assert sorted(seen - set(compliance.BAA_ALLOW_LIST)) == []


def test_cfn_lint_reports_no_errors(assembly: Assembly) -> None:
    templates = sorted(str(p) for p in assembly.outdir.glob("*.template.json"))
    # cfn-lint has no `python -m cfnlint`: its runner, as its console script calls it. It exits 0
    # with no finding, or with a bit per level found (2 errors, 4 warnings, 8 informational).
    runner = "import sys; from cfnlint.runner import main; sys.exit(main())"
    # Two linters side by side, each over every other template (largest first): one per core.
    by_size = sorted(templates, key=lambda t: -Path(t).stat().st_size)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", runner, "--format", "json", *share],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for share in (by_size[0::2], by_size[1::2])
        if share
    ]
    findings = []
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode in range(16) and out.strip(), err[-2000:]
        findings += json.loads(out)
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], json.dumps(errors, indent=1)[:4000]
