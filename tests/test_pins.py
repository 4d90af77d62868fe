"""What CI runs is pinned: the images of plan.yml carry the Python minor they are listed
under and, where pinned, a well-formed digest; every Python tool the template's own CI
(.ci/run) installs with pip comes from a requirements file hashed line by line. No render:
these read the plan and .ci/ only. Every combination's CI installs the packages of
third-party Debian repositories at the release line the plan holds them to."""

import re
import shlex
from itertools import pairwise
from pathlib import Path

import pytest

from conftest import COMBINATIONS, PLAN, TEMPLATE, ci_text, combo_id

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


# The words after each `apt-get install`, up to the end of the shell command.
APT_INSTALL = re.compile(r"apt-get install ([^&|;>\n]*)")


def apt_packages(text: str) -> dict[str, str]:
    """Each package an apt-get install of `text` names, with its version ('' when none)."""
    words = [w for args in APT_INSTALL.findall(text) for w in shlex.split(args)]
    return dict(word.partition("=")[::2] for word in words if not word.startswith("-"))


def test_the_docker_cli_is_the_major_of_the_docker_service() -> None:
    major = re.fullmatch(r"docker:(\d+)-dind@.*", PLAN["images"]["dind"])[1]
    assert PLAN["apt"]["docker-ce-cli"] == f"5:{major}.*"


@pytest.mark.parametrize("answers", COMBINATIONS, ids=combo_id)
def test_ci_holds_third_party_packages_to_their_release_line(render, answers: dict) -> None:
    text = ci_text(render(answers), answers["ci_provider"])
    packages = apt_packages(text)
    for name, version in packages.items():
        if name in PLAN["apt"]:
            assert version == PLAN["apt"][name], f"{name}={version}"
    if "kubectl" in packages:
        # The Kubernetes repository serves one minor; the pin names the same one.
        (minor,) = set(re.findall(r"pkgs\.k8s\.io/core:/stable:/v(\d+\.\d+)/deb/", text))
        assert packages["kubectl"] == f"{minor}.*"
