"""Every answer combination that renders Terraform renders it clean, the cloud's root module
and its one-time state module (infra/bootstrap/<cloud>) alike: `terraform fmt` changes
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

import linters
from conftest import COMBINATIONS, clouds, combo_id

WITH_TERRAFORM = [answers for answers in COMBINATIONS if clouds(answers)]


@pytest.fixture(scope="module", params=WITH_TERRAFORM, ids=combo_id)
def infra(request, render) -> Path:
    (cloud,) = clouds(request.param)
    return render(request.param) / "infra" / cloud


@pytest.fixture(scope="module")
def fmt_findings(render, tmp_path_factory) -> dict[Path, list[str]]:
    """`terraform fmt -check`, once over the distinct Terraform of every combination."""
    modules = [
        module
        for answers in WITH_TERRAFORM
        for module in modules_of(render(answers), next(iter(clouds(answers))))
    ]
    return linters.terraform_fmt(modules, tmp_path_factory.mktemp("fmt"))


def modules_of(project: Path, cloud: str) -> list[Path]:
    """The cloud's root module, and the module that creates its state bucket first."""
    return [project / "infra" / cloud, project / "infra" / "bootstrap" / cloud]


PARSED: set[str] = set()


def test_terraform_fmt_changes_nothing_and_every_file_parses(infra: Path, fmt_findings) -> None:
    bootstrap = infra.parent / "bootstrap" / infra.name
    assert bootstrap.is_dir(), "every cloud's Terraform comes with its state module"
    for module in (infra, bootstrap):
        assert not fmt_findings[module], f"terraform fmt would change files of {module}"
    for path in [*infra.rglob("*.tf"), *bootstrap.rglob("*.tf")]:
        text = path.read_text()
        if text not in PARSED:  # the same file in many combinations is parsed once
            hcl2.loads(text)
            PARSED.add(text)


@pytest.fixture(scope="module")
def checkov_findings(render, tmp_path_factory) -> dict[str, list]:
    """One checkov run over the Terraform of every combination, each copied into a directory
    named after its combination: checkov's start-up, not the scan, is most of its time.
    Returns the failed checks (and parsing errors) by combination."""
    checkov = os.environ.get("CHECKOV") or shutil.which("checkov")
    assert checkov, "checkov is missing: .ci/run installs it and sets CHECKOV"
    root = tmp_path_factory.mktemp("checkov")
    for answers in WITH_TERRAFORM:
        (cloud,) = clouds(answers)
        root_module, bootstrap = modules_of(render(answers), cloud)
        shutil.copytree(root_module, root / combo_id(answers))
        shutil.copytree(bootstrap, root / combo_id(answers) / "_bootstrap")
    result = subprocess.run(
        [checkov, "-d", ".", "--framework", "terraform", "--skip-download", "-o", "json"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    report = report[0] if isinstance(report, list) else report
    findings: dict[str, list] = {}
    for check in report["results"]["failed_checks"]:
        combo = check["file_path"].strip("/").split("/")[0]
        findings.setdefault(combo, []).append((check["check_id"], check["resource"]))
    for path in report["results"].get("parsing_errors", []):
        combo = str(path).removeprefix(str(root)).strip("/").split("/")[0]
        findings.setdefault(combo, []).append(("parsing error", path))
    assert report["summary"]["resource_count"] > 0, result.stderr[-2000:]
    return findings


@pytest.mark.parametrize("answers", WITH_TERRAFORM, ids=combo_id)
def test_checkov_fails_no_check(checkov_findings: dict, answers: dict) -> None:
    assert not checkov_findings.get(combo_id(answers)), checkov_findings[combo_id(answers)]
