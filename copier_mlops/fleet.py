"""`copier-mlops fleet status|update`: many rendered repositories at once.

status reports, for each repository, its release against the template's latest, its key
answers, the template-managed files it changed and what breaks the organisation's policy.
update puts the template's latest release (or --ref) on a branch template-update/<ref> of
each local repository, commits it with its conflicts listed, and leaves the branch the
repository was on as it was. A failure is reported for its repository and never stops the
others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import copier
import questionary

from copier_mlops import policy as org_policy
from copier_mlops.progress import Progress
from copier_mlops.project import (
    NotACopierProject,
    Project,
    conflicts,
    is_behind,
    release_of,
    releases,
    render,
)

KEY_ANSWERS = ("ci_provider", "data_store", "deploy_target")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def is_local(repo: str) -> bool:
    return Path(repo).is_dir()


# ------------------------------------------------------------------ status
def status_of(repo: str, policy: dict, scratch: Path) -> dict:
    """One repository's row; whatever goes wrong is its `error`, never the fleet's."""
    row = {
        "repo": repo,
        "template_src": None,
        "template_commit": None,
        "template_version": None,
        "latest_version": None,
        "up_to_date": False,
        "answers": {},
        "modified_files": [],
        "policy_violations": [],
        "error": None,
    }
    try:
        path = Path(repo)
        if not is_local(repo):
            path = scratch / "clone"
            subprocess.run(
                ["git", "clone", "-q", "--depth", "1", repo, str(path)],
                check=True,
                capture_output=True,
                text=True,
            )
        project = Project.load(path)
        tags = releases(project.src)
        latest = tags[-1] if tags else None
        row |= {
            "template_src": project.src,
            "template_commit": project.commit,
            "template_version": release_of(project.commit)[0],
            "latest_version": latest,
            "up_to_date": not is_behind(project.commit, latest),
            "answers": project.answers,
            "policy_violations": org_policy.violations(project.answers, policy),
        }
        fresh = render(project.src, project.commit, project.answers, scratch / "fresh")
        row["modified_files"] = project.modified_files(fresh)
    except NotACopierProject as error:
        row["error"] = f"not a Copier project: {error}"
    except subprocess.CalledProcessError as error:
        row["error"] = f"{' '.join(error.cmd[:2])}: {error.stderr.strip()}"
    except Exception as error:  # a bad repository is reported, and the others go on
        row["error"] = f"{type(error).__name__}: {error}"
    return row


def compliant(row: dict) -> bool:
    return row["error"] is None and row["up_to_date"] and not row["policy_violations"]


def as_table(rows: list[dict], markdown: bool) -> str:
    header = ["repo", "version", "latest", "current", *KEY_ANSWERS, "modified", "policy"]
    lines = []
    for row in rows:
        answers = row["answers"]
        lines.append(
            [
                row["repo"],
                row["template_commit"] or "-",
                row["latest_version"] or "-",
                "yes" if row["up_to_date"] else "no",
                *(str(answers.get(name, "-")) for name in KEY_ANSWERS),
                ", ".join(row["modified_files"]) or "-",
                row["error"] or "; ".join(row["policy_violations"]) or "ok",
            ]
        )
    if markdown:
        escape = lambda cell: cell.replace("|", "\\|")  # noqa: E731
        return "\n".join(
            ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(map(escape, line)) + " |" for line in lines]
        )
    widths = [max(len(c) for c in column) for column in zip(header, *lines, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *lines]
    )


def status(repos: list[str], policy_file: Path | None, fmt: str) -> int:
    """Renders dominate the time, and each repository's is its own: they run in parallel,
    one process per core."""
    policy = org_policy.load(policy_file) if policy_file else {}
    progress = Progress(len(repos))
    rows: list[dict] = [{} for _ in repos]
    with (
        tempfile.TemporaryDirectory(prefix="copier-mlops-fleet-") as scratch,
        ProcessPoolExecutor(max_workers=min(len(repos), os.cpu_count() or 1)) as pool,
    ):
        running = {
            pool.submit(status_of, repo, policy, Path(scratch) / f"repo-{index}"): index
            for index, repo in enumerate(repos)
        }
        for done in as_completed(running):
            index = running[done]
            rows[index] = done.result()
            progress.step(repos[index])
    progress.close()
    if fmt == "json":
        print(json.dumps(rows, indent=2, sort_keys=True))
    else:
        print(as_table(rows, markdown=fmt == "markdown"))
    return 0 if all(map(compliant, rows)) else 1


# ------------------------------------------------------------------ update
def update_one(repo: str, ref: str | None, trust: bool) -> tuple[bool, str]:
    """(whether it went through cleanly, what happened) for one repository."""
    if not is_local(repo):
        return False, "skipped: fleet update works on local clones, not URLs"
    path = Path(repo)
    project = Project.load(path)
    if git(path, "status", "--porcelain"):
        return False, "skipped: the work tree has uncommitted changes, left untouched"
    tags = releases(project.src)
    target = ref or (tags[-1] if tags else None)
    if target is None:
        return False, f"skipped: {project.src} has no release tag; give --ref"
    if ref is None and not is_behind(project.commit, target):
        return True, f"up to date ({project.commit})"
    branch = f"template-update/{target}"
    started_on = git(path, "rev-parse", "--abbrev-ref", "HEAD").strip()
    if started_on == "HEAD":
        started_on = git(path, "rev-parse", "HEAD").strip()
    git(path, "switch", "-q", "-C", branch)
    try:
        copier.run_update(
            path,
            vcs_ref=target,
            defaults=True,
            overwrite=True,
            quiet=True,
            unsafe=trust,
            conflict="inline",
        )
        left = conflicts(path)
        git(path, "add", "-A")
        message = f"Update from copier-mlops {project.commit} to {target}"
        if left:
            message += "\n\nConflicts to resolve:\n" + "".join(f"- {name}\n" for name in left)
        git(
            path,
            "-c",
            "user.name=copier-mlops fleet",
            "-c",
            "user.email=fleet@copier-mlops",
            "commit",
            "-q",
            "--no-verify",
            "--allow-empty",
            "-m",
            message,
        )
    except Exception:
        # Leave nothing behind: the tree was clean, so everything here is the update's.
        git(path, "reset", "-q", "--hard")
        git(path, "clean", "-qfd")
        git(path, "switch", "-q", started_on)
        git(path, "branch", "-q", "-D", branch)
        raise
    git(path, "switch", "-q", started_on)
    if left:
        return False, f"{branch}: updated with conflicts in {', '.join(left)}"
    return True, f"{branch}: updated to {target}"


def choose(repos: list[str]) -> list[str]:
    """In a terminal, let the person pick the repositories to update (all ticked)."""
    picked = questionary.checkbox(
        "Repositories to update:",
        choices=[questionary.Choice(repo, checked=True) for repo in repos],
    ).ask()
    return picked or []


def update(repos: list[str], ref: str | None, yes: bool, trust: bool) -> int:
    if not yes and sys.stdin.isatty() and sys.stdout.isatty():
        repos = choose(repos)
    progress = Progress(len(repos))
    outcomes = []
    for repo in repos:
        try:
            outcomes.append((repo, *update_one(repo, ref, trust)))
        except Exception as error:  # one repository's failure never stops the others
            outcomes.append((repo, False, f"failed: {type(error).__name__}: {error}"))
        progress.step(repo)
    progress.close()
    for repo, _, said in outcomes:
        print(f"{repo}: {said}")
    return 0 if all(ok for _, ok, _ in outcomes) else 1
