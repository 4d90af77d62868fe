"""Every answer combination that renders Terraform renders it clean: `terraform fmt` changes
nothing, python-hcl2 parses every file, and checkov fails no check (a finding is fixed, or
skipped inline with its reason). The per-cloud test modules check what the resources say;
this one makes sure no CI vendor's or target's file slips past the linters."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest

from conftest import COMBINATIONS, clouds, combo_id, run

WITH_TERRAFORM = [answers for answers in COMBINATIONS if clouds(answers)]


@pytest.fixture(scope="module", params=WITH_TERRAFORM, ids=combo_id)
def infra(request, render) -> Path:
    (cloud,) = clouds(request.param)
    return render(request.param) / "infra" / cloud


def test_terraform_fmt_changes_nothing_and_every_file_parses(infra: Path) -> None:
    run(["terraform", "fmt", "-check", "-recursive", "-diff"], infra)
    for path in infra.rglob("*.tf"):
        with path.open() as source:
            hcl2.load(source)


def test_checkov_fails_no_check(infra: Path) -> None:
    checkov = os.environ.get("CHECKOV") or shutil.which("checkov")
    assert checkov, "checkov is missing: .ci/run installs it and sets CHECKOV"
    result = subprocess.run(
        [checkov, "-d", ".", "--framework", "terraform", "--skip-download", "-o", "json"],
        cwd=infra,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [
        (c["check_id"], c["resource"], c["file_path"]) for c in report["results"]["failed_checks"]
    ]
    assert report["summary"]["parsing_errors"] == 0
    assert not failed, failed
