"""Releases travel without tags: releases.yml (version -> commit) agrees with the CHANGELOG,
and a project rendered from every release updates to this commit, without --trust, keeping
every kind of user edit and listing the conflicts it leaves.

The tests tag a clone of the template from releases.yml, as the published repository is
tagged, so they run (and never skip) in a clone that has no tags."""

import difflib
import re
import subprocess
from pathlib import Path

import copier
import pytest
import yaml

from conftest import TEMPLATE, git_commit_all
from copier_mlops.project import conflicts
from template_clone import RELEASES, next_release, tagged_clone

USER_TEST = "def test_users_own_check():\n    assert 1 + 1 == 2\n"
# The default project and one project per cloud (the answers every release since the
# cloud's arrival accepts).
ANSWERS = {
    "default": {},
    "aws": {"data_store": "s3", "deploy_target": "aws_ecs"},
    "gcp": {"data_store": "gcs"},
    "azure": {"data_store": "azure_blob"},
}
# Files with `#` comments where the user can leave a note; the test picks the first one
# this update does not change ("an edit elsewhere") and the first one it changes (for a
# conflicting edit). .dvcignore and .dvc/.gitignore rarely change: one of them is always left.
COMMENTED = [
    ".gitignore",
    "dvc.yaml",
    ".dockerignore",
    "Dockerfile",
    "Makefile",
    "pyproject.toml",
    ".dvcignore",
    ".dvc/.gitignore",
]
NOTE = "# Our team's own note."


def changelog_releases() -> dict[str, str]:
    """`## vX.Y.Z (commit)` headings of CHANGELOG.md, as version -> abbreviated commit."""
    text = (TEMPLATE / "CHANGELOG.md").read_text()
    return dict(re.findall(r"^## (v\d+\.\d+\.\d+) \(([0-9a-f]{7,40})\)$", text, re.MULTILINE))


def test_the_release_table_and_the_changelog_agree() -> None:
    listed = changelog_releases()
    assert list(listed) == list(reversed(RELEASES)), "same versions, the CHANGELOG newest first"
    for version, commit in RELEASES.items():
        assert commit.startswith(listed[version]), f"{version}: {commit} vs {listed[version]}"


@pytest.mark.parametrize("version", RELEASES)
def test_each_release_commit_is_on_this_branch_and_is_that_release(version: str) -> None:
    commit = RELEASES[version]
    on_branch = subprocess.run(
        ["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=TEMPLATE, check=False
    )
    assert on_branch.returncode == 0, f"{version} ({commit}) is not in this branch's history"
    changelog = subprocess.run(
        ["git", "show", f"{commit}:CHANGELOG.md"],
        cwd=TEMPLATE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    newest = re.search(r"^## (v\d+\.\d+\.\d+)", changelog, re.MULTILINE).group(1)
    assert newest == version, f"the CHANGELOG of {commit} has {newest} as its newest release"


def accepts(version: str, answers: dict) -> bool:
    """Whether the release's copier.yml offers these answers (GCP and Azure came in v0.2.0)."""
    questions = yaml.safe_load(
        subprocess.run(
            ["git", "show", f"{RELEASES[version]}:copier.yml"],
            cwd=TEMPLATE,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    return all(value in questions[name]["choices"].values() for name, value in answers.items())


CASES = [
    pytest.param(version, name, id=f"{version}-{name}")
    for version in RELEASES
    for name, answers in ANSWERS.items()
    if accepts(version, answers)
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tagged clone; this commit is tagged as the next release, which is what a user
    updates to."""
    return tagged_clone(tmp_path_factory.mktemp("template") / "copier-mlops", next_release())


@pytest.fixture(scope="module")
def head_renders(template: Path, tmp_path_factory: pytest.TempPathFactory):
    """What this commit renders for each answer set, made once."""
    made: dict[str, Path] = {}

    def render(name: str) -> Path:
        if name not in made:
            made[name] = tmp_path_factory.mktemp(f"head-{name}") / "project"
            copier.run_copy(
                str(template), made[name], data=ANSWERS[name], defaults=True, quiet=True
            )
        return made[name]

    return render


def first_changed_line(old: str, new: str) -> int | None:
    """Index of the first line of `old` that the template rewrites or removes."""
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    return next((i1 for tag, i1, *_ in matcher.get_opcodes() if tag in ("replace", "delete")), None)


@pytest.mark.parametrize(("version", "name"), CASES)
def test_update_from_every_release_keeps_every_kind_of_user_edit(
    version: str, name: str, template: Path, head_renders, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    copier.run_copy(
        str(template), project, data=ANSWERS[name], defaults=True, vcs_ref=version, quiet=True
    )
    git_commit_all(project, f"Start from copier-mlops {version}")
    head = head_renders(name)

    def changed(path: str) -> bool:
        return (project / path).read_text() != (head / path).read_text()

    # A conflicting edit: the team rewrites a line that the template rewrites too.
    clash = next(
        p
        for p in ["Makefile", "README.md", *COMMENTED]
        if first_changed_line((project / p).read_text(), (head / p).read_text()) is not None
    )
    lines = (project / clash).read_text().splitlines(keepends=True)
    index = first_changed_line("".join(lines), (head / clash).read_text())
    lines[index] = lines[index].rstrip("\n") + "  (our edit)\n"
    (project / clash).write_text("".join(lines))
    # An edit elsewhere, changed params, a deleted file, an added file.
    quiet = next(p for p in COMMENTED if p != clash and not changed(p))
    (project / quiet).write_text((project / quiet).read_text() + NOTE + "\n")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.5"))
    gone = next(
        p
        for p in [
            "monitoring/grafana-dashboard.json",
            "tests/test_train.py",
            "src/ml_project/smoke.py",
            "tests/test_data.py",
            "tests/gate/test_champion.py",
            # Unchanged since v0.1.0: a team on Renovate deletes it.
            ".github/dependabot.yml",
        ]
        if (project / p).exists() and not changed(p)
    )
    (project / gone).unlink()
    (project / "tests" / "test_users_own.py").write_text(USER_TEST)
    git_commit_all(project, "The team's own changes")

    copier.run_update(project, defaults=True, overwrite=True, quiet=True)  # no trust

    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == next_release(), "updated to the latest release"
    assert conflicts(project) == [clash], "the conflicting edit, and only it, is listed"
    text = (project / clash).read_text()
    assert "<<<<<<< " in text and "(our edit)" in text, "both sides are kept in the markers"
    assert (project / quiet).read_text().endswith(NOTE + "\n"), "the edit elsewhere survived"
    assert "C: 0.5" in params.read_text(), "the changed params survived"
    assert not (project / gone).exists(), "the deleted file stays deleted"
    assert (project / "tests" / "test_users_own.py").read_text() == USER_TEST
    for path in ["Makefile", "tools/template_update.py", ".pre-commit-config.yaml"]:
        assert (project / path).is_file(), f"the template's {path} arrived"
    assert "template-update:" in (project / "Makefile").read_text()
