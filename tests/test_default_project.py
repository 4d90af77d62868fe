"""The default answers give a repository whose whole pipeline runs on a laptop, no cloud:
install, `make ci` (lint, tests, pipeline, gate) and a gate that really fails (serving is
the README test's, tests/test_readme_commands.py)."""

import json
from pathlib import Path

import pytest
import yaml

from conftest import git_commit_all, run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def project(ci_project: Path) -> Path:
    return ci_project


@pytest.fixture(scope="module")
def ci_output(ci_project: Path) -> str:
    return (ci_project / ".make-ci.log").read_text()


def test_make_ci_runs_lint_tests_pipeline_and_gate(project: Path, ci_output: str) -> None:
    for step in ("ruff check", 'pytest -m "not gate"', "dvc repro", "pytest -m gate"):
        assert step in ci_output
    for stage in ("fetch", "prepare", "train", "export", "evaluate"):
        assert f"Running stage '{stage}'" in ci_output
    metrics = json.loads((project / "reports" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9
    assert (project / "models" / "model.onnx").exists()
    assert (project / "models" / "manifest.json").exists()
    assert (project / "dvc.lock").exists()


def edit_params(project: Path, edit) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    edit(params)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_a_threshold_above_what_the_model_reaches_fails_the_gate(
    project: Path, ci_output: str
) -> None:
    original = (project / "params.yaml").read_text()
    reached = json.loads((project / "reports" / "metrics.json").read_text())["accuracy"]
    try:
        edit_params(project, lambda p: p["gate"]["min"].update(accuracy=reached + 0.001))
        gate = run(["make", "validate"], project, check=False)
        assert gate.returncode != 0
        assert "is below the threshold" in gate.stdout
    finally:
        (project / "params.yaml").write_text(original)
    run(["make", "validate"], project)


def test_a_challenger_worse_than_main_fails_the_gate(project: Path, ci_output: str) -> None:
    """Thresholds still pass (accuracy ~0.93), but it is >0.02 below the champion on main."""
    git_commit_all(project, "Champion model")
    run(["git", "checkout", "-q", "-b", "weaker-model"], project)
    try:
        edit_params(project, lambda p: p["train"].update(C=0.001))
        run(["uv", "run", "--frozen", "dvc", "repro"], project)
        gate = run(["make", "validate"], project, check=False)
        assert gate.returncode != 0
        assert "test_challenger_does_not_regress" in gate.stdout
        assert "test_thresholds.py::test_metric_reaches_its_threshold[accuracy] PASSED" in (
            run(
                ["uv", "run", "--frozen", "pytest", "-m", "gate", "-v"], project, check=False
            ).stdout
        )
        report = run(["make", "report"], project).stdout
        assert "| reports/metrics.json | accuracy" in report
    finally:
        # Back to the champion as committed: `dvc repro` staged the weaker dvc.lock
        # (core.autostage), which `git checkout -- .` would keep. The other tests of the
        # project (the monitor's among them) expect the pipeline up to date.
        run(["git", "reset", "-q", "--hard"], project)
        run(["git", "checkout", "-q", "main"], project)
        run(["uv", "run", "--frozen", "dvc", "checkout"], project)
