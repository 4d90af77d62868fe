"""A `docker` command that records what it was given, for the deploy modules' `login`."""

import os
from pathlib import Path

import pytest


class FakeDocker:
    """`docker` first on PATH: each call writes its arguments (one a line) to `args` and
    what it read from stdin to `stdin`, in `folder`."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        bin_dir = folder / "bin"
        bin_dir.mkdir()
        docker = bin_dir / "docker"
        docker.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {folder}/args\ncat > {folder}/stdin\n')
        docker.chmod(0o755)
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    @property
    def called(self) -> bool:
        return (self.folder / "args").exists()

    @property
    def args(self) -> list[str]:
        return (self.folder / "args").read_text().splitlines()

    @property
    def stdin(self) -> str:
        return (self.folder / "stdin").read_text()
