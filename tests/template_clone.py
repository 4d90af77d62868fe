"""A scratch clone of this template with its releases tagged, as the published repository
has them. Only the branch travels here (no git tags), so releases.yml is the record of the
commit each release was cut from; the clone gets a tag per row and, on top, the working
tree as it is now: the commit a user would update to."""

import shutil
import subprocess
from pathlib import Path

import copier
import yaml

from conftest import TEMPLATE, git_commit_all, run

RELEASES = yaml.safe_load((TEMPLATE / "releases.yml").read_text())


def git(repo: Path, *args: str) -> str:
    return run(["git", "-c", "user.name=T", "-c", "user.email=t@example.com", *args], repo).stdout


def working_tree_files(root: Path) -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    return {name for name in listed if name and (root / name).is_file()}


def tagged_clone(dest: Path, head_tag: str | None = None) -> Path:
    """Clone this template into `dest`, tag every release of releases.yml, commit the
    working tree on top (when it differs) and tag that commit `head_tag` if given."""
    run(["git", "clone", "-q", str(TEMPLATE), str(dest)], dest.parent)
    for version, commit in RELEASES.items():
        git(dest, "tag", version, commit)
    theirs, ours = working_tree_files(TEMPLATE), working_tree_files(dest)
    for name in ours - theirs:
        (dest / name).unlink()
    for name in theirs:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / name, dest / name)
    git(dest, "add", "-A")
    if git(dest, "status", "--porcelain"):
        git(dest, "commit", "-q", "--no-verify", "-m", "The working tree under test")
    if head_tag:
        git(dest, "tag", head_tag)
    return dest


def next_release() -> str:
    """The version the next release would take: the latest one with its minor bumped."""
    major, minor, _ = max(tuple(map(int, v[1:].split("."))) for v in RELEASES)
    return f"v{major}.{minor + 1}.0"


LINT_LINE = "lint: ## ruff lint and format check"


def project_with_its_own_lint(template: Path, project: Path) -> Path:
    """A project rendered from the template's HEAD, committed, whose Makefile then rewords
    the lint target's help (committed too): the edit that release_a_change conflicts with."""
    copier.run_copy(str(template), project, defaults=True, quiet=True)
    git_commit_all(project, "Start from copier-mlops")
    makefile = project / "Makefile"
    makefile.write_text(makefile.read_text().replace(LINT_LINE, "lint: ## our own lint"))
    git_commit_all(project, "Our lint")
    return project


def release_a_change(template: Path, tag: str) -> None:
    """The template's next release rewords the lint target's help."""
    makefile = template / "template" / "Makefile.jinja"
    makefile.write_text(makefile.read_text().replace(LINT_LINE, "lint: ## ruff check and format"))
    git(template, "commit", "-qam", "Reword the lint target")
    git(template, "tag", tag)
