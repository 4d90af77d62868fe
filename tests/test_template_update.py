"""`make template-update` in a rendered project: takes the template's latest release with
the pinned Copier (no --trust), fails listing the files left in conflict, and refuses to
let an answer change delete a file the user changed unless FORCE=1."""

import json
import sys
from pathlib import Path

import copier
import pytest

from conftest import git_commit_all, run
from copier_mlops.project import conflicts
from template_clone import (
    git,
    next_release,
    project_with_its_own_lint,
    release_a_change,
    tagged_clone,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tagged_clone(tmp_path_factory.mktemp("template") / "copier-mlops", next_release())


def test_a_conflict_fails_the_update_and_is_listed(template: Path, tmp_path: Path) -> None:
    project = project_with_its_own_lint(template, tmp_path / "project")
    makefile = project / "Makefile"
    release_a_change(template, "v99.0.0")

    done = run(["make", "template-update"], project, check=False)

    assert done.returncode != 0, done.stdout
    assert "updated to v99.0.0; resolve the conflicts in these files:\n  Makefile\n" in done.stdout
    assert conflicts(project) == ["Makefile"]
    assert (
        "our own lint" in makefile.read_text() and "ruff check and format" in makefile.read_text()
    )


def test_an_answer_change_keeps_edited_files_unless_forced(template: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    copier.run_copy(str(template), project, defaults=True, quiet=True)
    git_commit_all(project, "Start from copier-mlops")
    compose = project / "compose.yaml"
    compose.write_text(compose.read_text() + "# Our Docker host needs this note.\n")
    git_commit_all(project, "Our compose note")

    refused = run(
        ["make", "template-update", "DATA=deploy_target=kubernetes"], project, check=False
    )

    assert refused.returncode != 0
    assert "would delete these files, which you changed:\n  compose.yaml\n" in refused.stdout
    assert git(project, "status", "--porcelain") == "", "nothing was touched"
    assert "Our Docker host" in compose.read_text()

    forced = run(
        ["make", "template-update", "DATA=deploy_target=kubernetes", "FORCE=1"],
        project,
        check=False,
    )

    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert not compose.exists() and (project / "k8s" / "base").is_dir()
    assert "deploy_target: kubernetes" in (project / ".copier-answers.yml").read_text()


def test_check_update_needs_no_trust(template: Path, tmp_path: Path) -> None:
    """`copier check-update`, as the scheduled CI job runs it: no --trust, from any release."""
    project = tmp_path / "project"
    copier.run_copy(str(template), project, vcs_ref="v0.1.0", defaults=True, quiet=True)
    git_commit_all(project, "Start from copier-mlops v0.1.0")
    copier_cli = str(Path(sys.executable).parent / "copier")

    done = run([copier_cli, "check-update", "--output-format", "json"], project)

    report = json.loads(done.stdout)
    assert report["update_available"] is True
    assert report["current_version"] == "0.1.0"
    assert report["latest_version"] == git(template, "describe", "--tags", "--abbrev=0").strip()[1:]
