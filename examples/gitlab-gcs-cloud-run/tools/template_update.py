"""`make template-update`: bring the template's latest release (or --ref) into this project.

Before updating, it renders the template as this project was made and as the update would
make it: a file the update would delete (an answer changed, a release dropped it) that you
changed since the last render is listed, and the update stops unless --force. After
updating, it fails and lists every file left with conflict markers or a .rej.

`make` runs it as `uvx --from copier==<pinned> python tools/template_update.py`, so it
needs nothing but the pinned Copier (and pyyaml, which Copier brings)."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import copier
import yaml

ANSWERS_FILE = ".copier-answers.yml"
RELEASE_TAG = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")
# Copier records `git describe --tags` of the template commit: v0.3.0 or v0.3.0-4-gabc1234.
RELEASE_PREFIX = re.compile(r"^(v\d+\.\d+\.\d+)")
CONFLICT_MARKER = re.compile(rb"^(<{7} |>{7} )", re.MULTILINE)


def version(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in RELEASE_PREFIX.match(tag).group(1)[1:].split("."))


def latest_release(src: str) -> str | None:
    listed = subprocess.run(
        ["git", "ls-remote", "--tags", "--refs", src], capture_output=True, text=True
    )
    if listed.returncode != 0:
        sys.exit(f"template-update: cannot list the releases of {src}: {listed.stderr.strip()}")
    tags = [line.rpartition("refs/tags/")[2] for line in listed.stdout.splitlines()]
    return max((tag for tag in tags if RELEASE_TAG.match(tag)), key=version, default=None)


def target_ref(src: str, commit: str, requested: str | None) -> str:
    """The ref to update to: the one asked for, else the latest release. A project already
    at (or past) that release is re-rendered at its own commit, which is how an answer
    changes without a downgrade."""
    if requested:
        return requested
    latest = latest_release(src)
    if latest is None:
        return "HEAD"
    if RELEASE_PREFIX.match(commit) and version(commit) >= version(latest):
        return commit
    return latest


def render(src: str, ref: str, answers: dict, dest: Path) -> dict[str, bytes]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copier.run_copy(src, dest, data=answers, vcs_ref=ref, defaults=True, quiet=True)
    return {
        path.relative_to(dest).as_posix(): path.read_bytes()
        for path in dest.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(dest).parts
    }


def edited_files_to_delete(src: str, commit: str, ref: str, answers: dict, data: dict) -> list:
    """Files the last render made, that the update would no longer render, and that differ
    from what the last render wrote: the user's work an update would delete."""
    with tempfile.TemporaryDirectory() as scratch:
        before = render(src, commit, answers, Path(scratch) / "before")
        after = render(src, ref, {**answers, **data}, Path(scratch) / "after")
    return sorted(
        name
        for name in set(before) - set(after)
        if Path(name).is_file() and Path(name).read_bytes() != before[name]
    )


def conflicts() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    # A file in conflict is listed once per merge stage: a set lists it once.
    return sorted(
        name
        for name in set(filter(None, listed))
        if Path(name).is_file()
        and (name.endswith(".rej") or CONFLICT_MARKER.search(Path(name).read_bytes()))
    )


def parse_data(pairs: list[str]) -> dict[str, str]:
    data = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals:
            sys.exit(f"template-update: DATA takes name=value pairs, got {pair!r}")
        data[name] = value
    return data


def recorded() -> tuple[str, str, dict]:
    """The template's source, the commit this project was last rendered from, its answers."""
    answers = yaml.safe_load(Path(ANSWERS_FILE).read_text())
    return (
        answers["_src_path"],
        answers["_commit"],
        {k: v for k, v in answers.items() if not k.startswith("_")},
    )


def apply(ref: str, data: dict, trust: bool) -> None:
    """`copier update` to `ref` with the changed answers `data`, conflicts left inline."""
    copier.run_update(
        ".",
        data=data,
        vcs_ref=ref,
        defaults=True,
        overwrite=True,
        conflict="inline",
        unsafe=trust,
        quiet=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ref", help="release or commit to update to (default: the latest)")
    parser.add_argument("--data", action="append", default=[], help="an answer to change")
    parser.add_argument("--force", action="store_true", help="delete edited files anyway")
    parser.add_argument("--trust", action="store_true", help="run the migrations it crosses")
    args = parser.parse_args()

    src, commit, answers = recorded()
    data = parse_data(args.data)
    ref = target_ref(src, commit, args.ref)

    doomed = edited_files_to_delete(src, commit, ref, answers, data)
    if doomed and not args.force:
        print("template-update: the update would delete these files, which you changed:")
        print("".join(f"  {name}\n" for name in doomed), end="")
        print("Keep a copy of what you need, then run it again with FORCE=1.")
        return 1

    try:
        apply(ref, data, args.trust)
    except copier.errors.UnsafeTemplateError as error:
        print(f"template-update: {error}")
        print("This update crosses a migration (see the template's CHANGELOG): read it,")
        print("then run `make template-update TRUST=1`.")
        return 1
    except copier.errors.CopierError as error:
        print(f"template-update: {error}")
        return 1

    left = conflicts()
    if left:
        print(f"template-update: updated to {ref}; resolve the conflicts in these files:")
        print("".join(f"  {name}\n" for name in left), end="")
        return 1
    print(f"template-update: updated to {ref}; review `git diff`, then commit.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
