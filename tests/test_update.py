"""`copier update` (without --trust) brings a project the template's later changes and keeps
the user's edits. Updates from the real releases: tests/test_releases.py.

The template is cloned into a scratch repository where a later release is simulated by a
commit that changes a rendered file; the project is rendered from the earlier commit."""

import shutil
import subprocess
from pathlib import Path

import copier
import pytest
import yaml

from conftest import TEMPLATE, git_commit_all, run

USER_TEST = "def test_users_own_check():\n    assert 1 + 1 == 2\n"


def git(repo: Path, *args: str) -> str:
    return run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args], repo).stdout


@pytest.fixture(scope="module")
def template_history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A copy of the template at two commits: (repo, earlier, later)."""
    repo = tmp_path_factory.mktemp("template") / "copier-mlops"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=TEMPLATE, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        source = TEMPLATE / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git_commit_all(repo, "earlier release")
    git(repo, "tag", "v0.0.1")
    earlier = git(repo, "rev-parse", "HEAD").strip()
    # The later release: a new Makefile target and a new sentence in the params comment.
    makefile = repo / "template" / "Makefile.jinja"
    makefile.write_text(
        makefile.read_text() + "\nplots: ## render the DVC plots to HTML\n\t$(RUN) dvc plots show\n"
    )
    params = repo / "template" / "params.yaml.jinja"
    params.write_text(
        params.read_text().replace("seed: 42", "# Change the seed to check stability.\nseed: 42")
    )
    git_commit_all(repo, "later release")
    git(repo, "tag", "v0.0.2")
    return repo, earlier, git(repo, "rev-parse", "HEAD").strip()


def test_update_keeps_user_edits_and_brings_template_changes(template_history, tmp_path) -> None:
    template, earlier, _ = template_history
    project = tmp_path / "project"
    copier.run_copy(str(template), project, defaults=True, vcs_ref="v0.0.1", quiet=True)
    git_commit_all(project, "Start from copier-mlops v0.0.1")

    # The user's own changes: a tuned hyperparameter, a stricter gate, a new test file.
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.5").replace("f1: 0.9", "f1: 0.95"))
    (project / "tests" / "test_users_own.py").write_text(USER_TEST)
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\n## Our team's notes\n\nOn call: the ML team.\n")
    git_commit_all(project, "Tune the model")

    copier.run_update(project, defaults=True, overwrite=True, vcs_ref="v0.0.2", quiet=True)

    makefile = (project / "Makefile").read_text()
    assert "plots: ## render the DVC plots to HTML" in makefile, "the template's change arrived"
    text = params.read_text()
    assert "# Change the seed to check stability." in text, "the template's change arrived"
    assert "C: 0.5" in text and "f1: 0.95" in text, "the user's params survived"
    assert (project / "tests" / "test_users_own.py").read_text() == USER_TEST
    assert "On call: the ML team." in readme.read_text()
    assert not list(project.rglob("*.rej")), "no conflicts were left behind"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == "v0.0.2"
