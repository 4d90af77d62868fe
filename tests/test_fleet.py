"""`copier-mlops fleet status|update` on a fleet of rendered repositories at different
releases and answers: some edited, one in conflict, some breaking the policy, one not a
Copier project, one dirty. And org.yml: Copier takes its answers and ignores its policy."""

import json
import shutil
import sys
import time
from pathlib import Path

import copier
import pytest
import yaml

from conftest import TEMPLATE, git_commit_all, run
from copier_mlops import policy
from copier_mlops.fleet import as_table
from template_clone import git, next_release, tagged_clone

LATEST = next_release()
POLICY = {
    "policy": {
        "allowed": {"ci_provider": ["github_actions", "gitlab_ci"], "data_store": ["local", "s3"]},
        "minimum": {"min_accuracy": 0.85, "min_r2": 0.25},
    }
}
# name: (release, answers). The latest release is this commit, tagged LATEST.
FLEET = {
    "current": (LATEST, {}),
    "v010-default": ("v0.1.0", {}),
    "v020-gcs": ("v0.2.0", {"data_store": "gcs"}),
    "v030-aws-edited": ("v0.3.0", {"data_store": "s3", "deploy_target": "aws_ecs"}),
    "current-jenkins": (LATEST, {"ci_provider": "jenkins"}),
    "current-lax-gate": (LATEST, {"min_accuracy": 0.5}),
    # A regression project has no min_accuracy: only its own threshold is held to the policy.
    "current-regression": (LATEST, {"task": "regression", "min_r2": 0.2}),
    "v030-conflict": ("v0.3.0", {"deploy_target": "kubernetes"}),
    "v020-dirty": ("v0.2.0", {}),
    "current-edited": (LATEST, {"deploy_target": "kubernetes"}),
    "not-copier": (None, {}),
}
COPIER_MLOPS = str(Path(sys.executable).parent / "copier-mlops")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fleet")
    template = tagged_clone(root / "copier-mlops", LATEST)
    repos = {}
    for name, (release, answers) in FLEET.items():
        repo = repos[name] = root / name
        if release is None:
            repo.mkdir()
            (repo / "README.md").write_text("# A repository of its own\n")
        else:
            copier.run_copy(
                str(template), repo, data=answers, vcs_ref=release, defaults=True, quiet=True
            )
        git_commit_all(repo, "Start")
    params = repos["v030-aws-edited"] / "params.yaml"
    params.write_text(params.read_text().replace("C: 1.0", "C: 0.5"))
    git_commit_all(repos["v030-aws-edited"], "Tune")
    # A line of the README that this commit rewrites: a conflict.
    readme = repos["v030-conflict"] / "README.md"
    readme.write_text(readme.read_text().replace("uvx copier update --trust", "uvx copier update"))
    git_commit_all(repos["v030-conflict"], "Our update command")
    (repos["current-edited"] / "Dockerfile").write_text("FROM scratch\n")
    (repos["current-edited"] / "k8s" / "base" / "pdb.yaml").unlink()
    git_commit_all(repos["current-edited"], "Our image, no PDB")
    (repos["v020-dirty"] / "params.yaml").write_text("work in progress\n")
    (root / "policy.yml").write_text(yaml.safe_dump(POLICY))
    return repos


@pytest.fixture(scope="module")
def status(fleet: dict[str, Path]) -> dict:
    """One `fleet status --format json` over the fleet (and one repository by URL)."""
    repos = [str(path) for path in fleet.values()]
    url = f"file://{fleet['v010-default']}"
    started = time.perf_counter()
    done = run(
        [
            COPIER_MLOPS,
            "fleet",
            "status",
            "--format",
            "json",
            "--policy",
            str(fleet["current"].parent / "policy.yml"),
            *repos,
            url,
        ],
        TEMPLATE,
        check=False,
    )
    seconds = time.perf_counter() - started
    print(f"fleet status on {len(repos) + 1} repositories: {seconds:.1f} s")
    rows = json.loads(done.stdout)
    by_name = {Path(row["repo"]).name: row for row in rows}
    return {
        "exit": done.returncode,
        "rows": rows,
        "by": by_name,
        "stderr": done.stderr,
        "url": rows[-1],
    }


def test_status_lists_every_repository_with_the_promised_keys(status) -> None:
    assert status["exit"] == 1, "some repositories are behind or break the policy"
    assert len(status["rows"]) == len(FLEET) + 1
    keys = {
        "repo",
        "template_commit",
        "template_version",
        "latest_version",
        "up_to_date",
        "answers",
        "modified_files",
        "policy_violations",
    }
    assert all(keys <= set(row) for row in status["rows"])
    assert "[12/12]" in status["stderr"], "a progress line per repository"


def test_status_says_which_are_behind(status) -> None:
    by = status["by"]
    for name, (release, _) in FLEET.items():
        if release is None:
            continue
        row = by[name]
        assert row["latest_version"] == LATEST
        assert row["template_version"] == release
        assert row["up_to_date"] == (release == LATEST), name
    assert status["url"]["template_version"] == "v0.1.0", "a git URL is read like a path"


def test_status_lists_the_template_files_each_has_changed(status) -> None:
    by = status["by"]
    assert by["current"]["modified_files"] == []
    assert by["v030-aws-edited"]["modified_files"] == ["params.yaml"]
    assert by["v030-conflict"]["modified_files"] == ["README.md"]
    assert by["current-edited"]["modified_files"] == ["Dockerfile", "k8s/base/pdb.yaml"]
    assert by["v020-dirty"]["modified_files"] == ["params.yaml"], "the work tree as it is"


def test_status_reports_policy_violations_and_non_copier_repositories(status) -> None:
    by = status["by"]
    assert by["current"]["policy_violations"] == []
    assert by["current-jenkins"]["policy_violations"] == [
        "ci_provider is 'jenkins'; allowed: github_actions, gitlab_ci"
    ]
    assert by["current-lax-gate"]["policy_violations"] == [
        "min_accuracy is 0.5, below the minimum 0.85"
    ]
    assert "min_accuracy" not in by["current-regression"]["answers"]
    assert by["current-regression"]["policy_violations"] == [
        "min_r2 is 0.2, below the minimum 0.25"
    ]
    assert by["v020-gcs"]["policy_violations"] == ["data_store is 'gcs'; allowed: local, s3"]
    assert by["not-copier"]["error"].startswith("not a Copier project")
    assert by["current"]["answers"]["ci_provider"] == "github_actions"


def test_table_and_markdown_show_one_line_per_repository(status) -> None:
    table = as_table(status["rows"], markdown=False).splitlines()
    markdown = as_table(status["rows"], markdown=True).splitlines()
    assert table[0].split()[:4] == ["repo", "version", "latest", "current"]
    assert len(table) == len(markdown) - 1 == len(FLEET) + 2
    assert markdown[1].startswith("|---|")
    print("\n".join(table))


def test_status_exits_0_when_every_repository_is_current_and_compliant(fleet) -> None:
    done = run([COPIER_MLOPS, "fleet", "status", str(fleet["current"])], TEMPLATE)
    assert "current" in done.stdout


def test_update_branches_each_behind_repository_and_touches_nothing_else(fleet) -> None:
    heads = {name: git(repo, "rev-parse", "HEAD") for name, repo in fleet.items()}
    done = run(
        [COPIER_MLOPS, "fleet", "update", "--yes", *map(str, fleet.values())], TEMPLATE, check=False
    )

    assert done.returncode == 1, done.stdout
    said = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    said = {Path(repo).name: text for repo, text in said.items()}
    branch = f"template-update/{LATEST}"
    for name in ["v010-default", "v020-gcs", "v030-aws-edited"]:
        assert said[name] == f"{branch}: updated to {LATEST}", name
    assert said["v030-conflict"] == f"{branch}: updated with conflicts in README.md"
    assert said["v020-dirty"].startswith("skipped: the work tree has uncommitted changes")
    assert said["not-copier"].startswith("failed: NotACopierProject")
    assert said["current"].startswith("up to date")
    for name, repo in fleet.items():
        assert git(repo, "rev-parse", "HEAD") == heads[name], f"{name}: its branch is untouched"
        assert git(repo, "branch", "--show-current").strip() == "main"
        updated = name in {"v010-default", "v020-gcs", "v030-aws-edited", "v030-conflict"}
        assert bool(git(repo, "branch", "--list", branch).strip()) == updated, name
    assert git(fleet["v020-dirty"], "status", "--porcelain").strip() == "M params.yaml"
    on_branch = git(fleet["v030-aws-edited"], "show", f"{branch}:params.yaml")
    assert "C: 0.5" in on_branch, "the user's edit is on the update branch"
    message = git(fleet["v030-conflict"], "log", "-1", "--format=%B", branch)
    assert "Conflicts to resolve:\n- README.md" in message


def test_org_file_answers_are_taken_and_its_policy_ignored_by_copier(tmp_path: Path) -> None:
    org = yaml.safe_load((TEMPLATE / "org.yml").read_text())
    project = tmp_path / "project"
    run(
        [
            shutil.which("copier", path=str(Path(sys.executable).parent)),
            "copy",
            "--defaults",
            "--quiet",
            "--data-file",
            str(TEMPLATE / "org.yml"),
            str(TEMPLATE),
            str(project),
        ],
        tmp_path,
    )
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert "policy" not in recorded
    answers = {key: value for key, value in org.items() if key != "policy"}
    assert {key: recorded[key] for key in answers} == answers
    assert policy.violations(recorded, policy.load(TEMPLATE / "org.yml")) == []
    assert "policy" not in yaml.safe_load((TEMPLATE / "copier.yml").read_text())
