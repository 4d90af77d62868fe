"""The commands the READMEs tell a user to run work, run exactly as written: the root
README's command 1 (render a project and run its CI), then, in that project, the rendered
README's update command, which must find the template again from what command 1 recorded."""

import re
from pathlib import Path

import pytest
import yaml

from conftest import TEMPLATE, git_commit_all, run
from template_clone import git, next_release, tagged_clone


def command_1(readme: str) -> str:
    """The lines of the root README's `# 1.` command, as written."""
    block = re.search(r"^# 1\..*?\n(.*?)\n\n", readme, re.MULTILINE | re.DOTALL)
    return block.group(1)


def update_command(readme: str) -> str:
    """The first code block of the rendered README's "Updating from the template" section."""
    section = readme.split("## Updating from the template", 1)[1]
    return re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)


COPIER_COMMAND = re.compile(r"copier (?:copy|update|check-update)[^`\n]*")


def test_no_documented_copier_command_carries_trust() -> None:
    documents = [
        TEMPLATE / "README.md",
        TEMPLATE / "CHANGELOG.md",
        TEMPLATE / "copier.yml",
        *(TEMPLATE / "template").rglob("README*"),
        *(TEMPLATE / "includes" / "readme").rglob("*.jinja"),
    ]
    commands = [c for path in documents for c in COPIER_COMMAND.findall(path.read_text())]
    assert len(commands) >= 3, "the README's copy, the CHANGELOG's update, the org.yml copy"
    assert [c for c in commands if "--trust" in c] == []


@pytest.mark.e2e
def test_command_1_then_the_rendered_update_command(tmp_path: Path) -> None:
    template = tagged_clone(tmp_path / "copier-mlops", next_release())
    command = command_1((TEMPLATE / "README.md").read_text())
    assert "uvx copier copy" in command and "make ci" in command

    run(["bash", "-c", command], template)

    project = tmp_path / "ml-project"
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert Path(recorded["_src_path"]).is_absolute(), "a source update can find again"
    git_commit_all(project, "Our first pipeline run")
    # The template's next release changes the rendered README.
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA line of the next release.\n")
    git(template, "commit", "-qam", "Next release")
    git(template, "tag", "v99.0.0")

    done = run(["bash", "-c", update_command((project / "README.md").read_text())], project)

    assert "updated to v99.0.0" in done.stdout
    assert (project / "README.md").read_text().endswith("A line of the next release.\n")
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v99.0.0"
