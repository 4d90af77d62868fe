"""The pre-commit hook this repository publishes (.pre-commit-hooks.yaml): says when a
project is behind the template's latest release, and which template-managed files it has
changed. Being behind fails the hook (`make template-update` mends it); edited files are
listed for information, and fail it only with --strict, since editing params.yaml or the
README is what users are meant to do."""

from __future__ import annotations

from pathlib import Path

from copier_mlops.project import NotACopierProject, Project, is_behind, releases


def main(path: Path, strict: bool) -> int:
    try:
        project = Project.load(path)
    except NotACopierProject as error:
        print(f"copier-mlops check: {error}")
        return 1
    failed = False
    try:
        tags = releases(project.src)
    except RuntimeError as error:  # offline, or the template moved: no verdict on versions
        print(f"copier-mlops check: version not checked: {error}")
        tags = ()
    latest = tags[-1] if tags else None
    if is_behind(project.commit, latest):
        print(
            f"This project is at copier-mlops {project.commit}; the latest release is "
            f"{latest}. Run `make template-update`."
        )
        failed = True
    modified = project.modified_files()
    if modified:
        print("Template-managed files changed since the last render (template updates merge")
        print("into them, and may conflict there):")
        print("".join(f"  {name}\n" for name in modified), end="")
        failed = failed or strict
    return 1 if failed else 0
