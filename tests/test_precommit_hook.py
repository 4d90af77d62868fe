"""The pre-commit hook this repository publishes (.pre-commit-hooks.yaml), run by pre-commit
in a rendered project: quiet on a current, unedited project; it fails when a newer release
exists and lists the template-managed files the project changed.

pre-commit would install the hook's repository from the git host; offline, the test runs
the rendered .pre-commit-config.yaml's hooks as `repo: local` ones, with the published
hook's own definition and the `copier-mlops` command of this test environment."""

import sys
from pathlib import Path

import copier
import pytest
import yaml

from conftest import TEMPLATE, git_commit_all, run
from template_clone import RELEASES, git, next_release, tagged_clone

TOOLS = Path(sys.executable).parent


def offline_config(project: Path) -> dict:
    """The project's .pre-commit-config.yaml with each remote hook turned into a local one."""
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text())
    (ruff, ours) = config["repos"]
    assert ruff["repo"] == "https://github.com/astral-sh/ruff-pre-commit"
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff-check", "ruff-format"]
    assert ours["repo"] == "https://github.com/copier-mlops/copier-mlops"
    assert ours["rev"] == list(RELEASES)[-1], "pinned to the newest release of releases.yml"
    (published,) = yaml.safe_load((TEMPLATE / ".pre-commit-hooks.yaml").read_text())
    assert [hook["id"] for hook in ours["hooks"]] == [published["id"]]
    ruff_hooks = [
        {
            "id": "ruff-check",
            "name": "ruff check",
            "entry": f"{TOOLS}/ruff check",
            "types": ["python"],
        },
        {
            "id": "ruff-format",
            "name": "ruff format",
            "entry": f"{TOOLS}/ruff format --check",
            "types": ["python"],
        },
    ]
    return {
        "repos": [
            {
                "repo": "local",
                "hooks": [
                    *({**hook, "language": "system"} for hook in ruff_hooks),
                    {**published, "language": "system"},
                ],
            }
        ]
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("hook")
    template = tagged_clone(root / "copier-mlops", next_release())
    project = root / "project"
    copier.run_copy(str(template), project, defaults=True, quiet=True)
    git_commit_all(project, "Start")
    config = root / "offline-pre-commit.yaml"
    config.write_text(yaml.safe_dump(offline_config(project), sort_keys=False))
    return template, project, config


def pre_commit(project: Path, config: Path):
    return run(
        [str(TOOLS / "pre-commit"), "run", "--all-files", "--config", str(config)],
        project,
        check=False,
        PRE_COMMIT_HOME=str(config.parent / "pre-commit-home"),
    )


def test_the_hook_passes_on_a_current_unedited_project(setup) -> None:
    _, project, config = setup
    done = pre_commit(project, config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "copier-mlops template check" in done.stdout


def test_the_hook_fails_behind_a_release_and_lists_edited_files(setup) -> None:
    template, project, config = setup
    readme = template / "template" / "README.md.jinja"
    readme.write_text(readme.read_text() + "\nA line of the next release.\n")
    git(template, "commit", "-qam", "Next release")
    git(template, "tag", "v99.0.0")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.5"))
    git_commit_all(project, "Tune")

    done = pre_commit(project, config)

    assert done.returncode == 1
    assert "the latest release is v99.0.0. Run `make template-update`." in done.stdout
    assert "Template-managed files changed since the last render" in done.stdout
    assert "  params.yaml\n" in done.stdout
