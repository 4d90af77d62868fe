"""What CI runs is pinned: the images of plan.yml carry the Python minor they are listed
under and, where pinned, a well-formed digest; every Python tool the template's own CI
(.ci/run) installs with pip comes from a requirements file hashed line by line. No render:
these read the plan and .ci/ only."""

import re
import shlex
from itertools import pairwise
from pathlib import Path

import pytest

from conftest import PLAN, TEMPLATE

# name:tag, then optionally @sha256: and the 64 hex digits of the manifest list.
REFERENCE = re.compile(r"(?P<name>[a-z0-9./-]+):(?P<tag>[\w.-]+)(@sha256:[0-9a-f]{64})?")
PER_PYTHON = [name for name, image in PLAN["images"].items() if isinstance(image, dict)]


@pytest.mark.parametrize("kind", PER_PYTHON)
def test_each_image_runs_the_python_minor_it_is_listed_under(kind: str) -> None:
    for minor, reference in PLAN["images"][kind].items():
        match = REFERENCE.fullmatch(reference)
        assert match, f"{kind}[{minor}]: {reference} is not name:tag[@sha256:<64 hex>]"
        assert f"{match['tag']}.".startswith(f"{minor}."), f"{kind}[{minor}]: {reference}"


def test_single_images_are_pinned_by_digest() -> None:
    for kind, reference in PLAN["images"].items():
        if kind not in PER_PYTHON:
            assert REFERENCE.fullmatch(reference) and "@sha256:" in reference, reference


def pip_installs(script: Path) -> list[list[str]]:
    """The words of each pip install in a shell script: pip's own (any path to it, or
    `python -m pip`) or uv's."""
    commands = [shlex.split(line, comments=True) for line in script.read_text().splitlines()]
    return [
        words
        for words in commands
        if any(Path(a).name == "pip" and b == "install" for a, b in pairwise(words))
    ]


def test_ci_installs_python_tools_only_by_hash() -> None:
    installs = pip_installs(TEMPLATE / ".ci" / "run")
    assert len(installs) >= 2, installs  # uv, then checkov
    for words in installs:
        assert "--require-hashes" in words, words
        requirements = TEMPLATE / words[words.index("-r") + 1]
        pins = re.split(r"(?<!\\)\n", requirements.read_text())
        pins = [pin for pin in pins if pin.strip() and not pin.lstrip().startswith("#")]
        for pin in pins:
            assert re.match(r"[\w.-]+==[\w.]+", pin), f"{requirements.name}: not pinned: {pin}"
            assert "--hash=sha256:" in pin, f"{requirements.name}: no hash: {pin}"
