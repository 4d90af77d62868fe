"""What a rendered project says about itself: the template and release it came from, its
answers, the template-managed files it has changed, and the conflicts an update left."""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import copier
import yaml

ANSWERS_FILE = ".copier-answers.yml"
RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# Copier records `git describe --tags` of the template commit: v0.3.0, or v0.3.0-4-gabc1234
# for a commit four commits after that release.
DESCRIBED = re.compile(r"^(v\d+\.\d+\.\d+)(?:-(\d+)-g[0-9a-f]+)?$")
CONFLICT_MARKER = re.compile(rb"^(<{7} |>{7} )", re.MULTILINE)


class NotACopierProject(Exception):
    """The folder has no readable .copier-answers.yml: it was not rendered by Copier."""


def version_key(tag: str) -> tuple[int, int, int]:
    major, minor, patch = RELEASE_TAG.match(tag).groups()
    return int(major), int(minor), int(patch)


def release_of(commit: str) -> tuple[str | None, int]:
    """(the release a described commit is at or after, how many commits after it)."""
    found = DESCRIBED.match(commit or "")
    if not found:
        return None, 0
    return found.group(1), int(found.group(2) or 0)


@functools.cache
def releases(src: str) -> tuple[str, ...]:
    """The template's release tags, oldest first, as the source repository has them."""
    listed = subprocess.run(
        ["git", "ls-remote", "--tags", "--refs", src], capture_output=True, text=True
    )
    if listed.returncode != 0:
        raise RuntimeError(f"cannot list the tags of {src}: {listed.stderr.strip()}")
    tags = (line.rpartition("refs/tags/")[2] for line in listed.stdout.splitlines())
    return tuple(sorted((t for t in tags if RELEASE_TAG.match(t)), key=version_key))


def is_behind(commit: str, latest: str | None) -> bool:
    """Whether a project rendered at `commit` has a newer release to update to."""
    if latest is None:
        return False
    release, _ = release_of(commit)
    return release is None or version_key(release) < version_key(latest)


def render(src: str, ref: str, answers: dict, dest: Path) -> Path:
    """Render the template at `ref` with `answers`, as a fresh copy (no trust needed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a dirty local template is the maintainer's affair
        copier.run_copy(
            src, dest, data=answers, vcs_ref=ref, defaults=True, overwrite=True, quiet=True
        )
    return dest


def tree_files(root: Path) -> dict[str, Path]:
    """The files of a rendered tree by relative path, without git's and Copier's own."""
    return {
        path.relative_to(root).as_posix(): path
        for path in root.rglob("*")
        if path.is_file()
        and ".git" not in path.relative_to(root).parts
        and path.name != ANSWERS_FILE
    }


@dataclass
class Project:
    path: Path
    recorded: dict  # .copier-answers.yml as written: answers and Copier's _src_path, _commit

    @classmethod
    def load(cls, path: Path) -> Project:
        if not (path / ANSWERS_FILE).is_file():
            raise NotACopierProject(f"{path} has no {ANSWERS_FILE}")
        try:
            recorded = yaml.safe_load((path / ANSWERS_FILE).read_text())
        except (OSError, yaml.YAMLError) as error:
            raise NotACopierProject(f"{path} has no readable {ANSWERS_FILE}: {error}") from None
        if not isinstance(recorded, dict) or "_src_path" not in recorded:
            raise NotACopierProject(f"{path}/{ANSWERS_FILE} does not name its template")
        return cls(path, recorded)

    @property
    def src(self) -> str:
        return str(self.recorded["_src_path"])

    @property
    def commit(self) -> str:
        return str(self.recorded.get("_commit", ""))

    @property
    def answers(self) -> dict:
        return {k: v for k, v in self.recorded.items() if not k.startswith("_")}

    def modified_files(self, fresh: Path | None = None) -> list[str]:
        """Template-managed files that differ from (or are missing against) a fresh render
        of the same answers at the same template commit."""
        if fresh is None:
            with tempfile.TemporaryDirectory() as scratch:
                return self.modified_files(
                    render(self.src, self.commit, self.answers, Path(scratch) / "fresh")
                )
        mine = self.path
        return sorted(
            name
            for name, rendered in tree_files(fresh).items()
            if not (mine / name).is_file() or (mine / name).read_bytes() != rendered.read_bytes()
        )


def conflicts(project: Path) -> list[str]:
    """Files an update left unresolved: inline conflict markers, or a .rej beside a file."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    found = []
    for name in sorted(set(filter(None, listed))):  # a conflicted file is listed per stage
        path = project / name
        if not path.is_file():
            continue
        if name.endswith(".rej") or CONFLICT_MARKER.search(path.read_bytes()):
            found.append(name)
    return found
