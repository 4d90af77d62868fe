"""Versioned migrations (hooks/): a rename ships a `_migrations` entry in Copier's
version/when form, which runs only when an update crosses that release, and asks for trust
only then. Nothing is renamed today, so the test renames an answer in a throwaway clone of
the template, as a maintainer would, and updates a project across it."""

from pathlib import Path

import copier
import pytest
import yaml

from conftest import git_commit_all
from template_clone import git, next_release, tagged_clone

LATEST = next_release()
RENAMED = f"v{LATEST[1:].split('.')[0]}.{int(LATEST.split('.')[1]) + 1}.0"
MIGRATION = f"""
_migrations:
  - version: {RENAMED}
    when: "{{{{ _stage == 'before' }}}}"
    command:
      - "{{{{ _copier_python }}}}"
      - "{{{{ _copier_conf.src_path }}}}/hooks/rename_answer.py"
      - retrain_schedule
      - monitor_schedule
"""


def rename_everywhere(template: Path, old: str, new: str) -> None:
    """What the maintainer's rename touches: copier.yml, the template tree, the includes."""
    for path in [
        template / "copier.yml",
        *(template / "template").rglob("*"),
        *(template / "includes").rglob("*"),
    ]:
        if path.is_file() and old in (text := path.read_text()):
            path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tagged_clone(tmp_path_factory.mktemp("template") / "copier-mlops", LATEST)


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    """A project of the latest release, with its own schedule; then the release that renames
    retrain_schedule to monitor_schedule, with its migration."""
    project = tmp_path / "project"
    copier.run_copy(
        str(template),
        project,
        data={"retrain_schedule": "0 5 * * 2"},
        vcs_ref=LATEST,
        defaults=True,
        quiet=True,
    )
    git_commit_all(project, "Start")
    if not git(template, "tag", "--list", RENAMED).strip():
        rename_everywhere(template, "retrain_schedule", "monitor_schedule")
        (template / "copier.yml").write_text((template / "copier.yml").read_text() + MIGRATION)
        git(template, "commit", "-qam", "Rename retrain_schedule to monitor_schedule")
        git(template, "tag", RENAMED)
    return project


def test_an_update_across_a_migration_asks_for_trust(project: Path) -> None:
    with pytest.raises(copier.errors.UnsafeTemplateError, match="migrations"):
        copier.run_update(project, defaults=True, overwrite=True, quiet=True)


def test_the_migration_carries_the_answer_to_its_new_name(project: Path) -> None:
    copier.run_update(project, defaults=True, overwrite=True, quiet=True, unsafe=True)

    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert recorded["_commit"] == RENAMED
    assert recorded["monitor_schedule"] == "0 5 * * 2", "the user's answer, not the default"
    assert "retrain_schedule" not in recorded
    assert 'cron: "0 5 * * 2"' in (project / ".github" / "workflows" / "retrain.yml").read_text()


def test_a_copy_never_runs_migrations_nor_needs_trust(template: Path, tmp_path: Path) -> None:
    copier.run_copy(str(template), tmp_path / "p", vcs_ref=RENAMED, defaults=True, quiet=True)
    recorded = yaml.safe_load((tmp_path / "p" / ".copier-answers.yml").read_text())
    assert recorded["monitor_schedule"] == "0 3 * * 1"
