"""Reading rendered Terraform with python-hcl2, for the tests that check what it says."""

import shutil
import subprocess
from pathlib import Path

import hcl2
import pytest


def unquote(value):
    """python-hcl2 keeps the quotes of strings and labels ("\\"x\\""); drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def clean(node):
    """The parsed HCL without quotes around strings and labels, and without the parser's
    bookkeeping keys (__is_block__, __comments__)."""
    if isinstance(node, dict):
        return {unquote(k): clean(v) for k, v in node.items() if not str(k).startswith("__")}
    if isinstance(node, list):
        return [clean(v) for v in node]
    return unquote(node)


class Module:
    """The blocks of one Terraform module directory, merged over its .tf files."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.files = sorted(directory.glob("*.tf"))
        self.names = [file.name for file in self.files]
        self.text = "\n".join(f.read_text() for f in self.files)
        self.blocks: dict[str, list] = {}
        for file in self.files:
            with file.open() as handle:
                for kind, entries in clean(hcl2.load(handle)).items():
                    self.blocks.setdefault(kind, []).extend(entries)

    def named(self, kind: str) -> dict:
        """variable/output/module blocks by name."""
        return {name: body for entry in self.blocks.get(kind, []) for name, body in entry.items()}

    def typed(self, kind: str) -> dict:
        """resource/data blocks by (type, name)."""
        return {
            (type_, name): body
            for entry in self.blocks.get(kind, [])
            for type_, named in entry.items()
            for name, body in named.items()
        }

    def resources(self) -> dict:
        return self.typed("resource")

    def resource(self, type_: str, name: str) -> dict:
        return self.typed("resource")[(type_, name)]


def terraform() -> str:
    found = shutil.which("terraform")
    if found is None:
        pytest.skip("terraform is not installed")
    return found


def variables_module(directory: Path, *sources: Path) -> Path:
    """A root module of nothing but the variable blocks of `sources`, initialised without a
    backend: `terraform plan` on it evaluates their validation blocks with no provider, so
    it runs offline. A source's resources (which would need a provider) are cut off."""
    for source in sources:
        text = source.read_text()
        (directory / source.name).write_text(text.split('\nresource "')[0] + "\n")
    subprocess.run(
        [terraform(), "init", "-backend=false", "-no-color"],
        cwd=directory,
        check=True,
        capture_output=True,
    )
    return directory


def plan(directory: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [terraform(), "plan", "-input=false", "-no-color", *args],
        cwd=directory,
        capture_output=True,
        text=True,
    )
