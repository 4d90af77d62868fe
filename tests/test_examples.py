"""The golden renders under examples/ are what the template renders today, so every change
to the template shows up in review as a diff of real output.

examples/answers/<name>.yml holds an example's answers, examples/<name>/ its rendered tree
(without .copier-answers.yml, whose _commit changes with every commit). After a deliberate
change, rewrite them with:  UPDATE_EXAMPLES=1 uv run pytest tests/test_examples.py
"""

import difflib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import COPIER_YML, TEMPLATE, run

EXAMPLES = TEMPLATE / "examples"
NAMES = sorted(p.stem for p in (EXAMPLES / "answers").glob("*.yml"))
UPDATE = os.environ.get("UPDATE_EXAMPLES") == "1"


def answers(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / "answers" / f"{name}.yml").read_text()) or {}


def tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".copier-answers.yml"
    }


def differences(expected: dict[str, str], actual: dict[str, str]) -> str:
    lines = []
    for name in sorted(expected.keys() | actual.keys()):
        before, after = expected.get(name, ""), actual.get(name, "")
        if before != after:
            lines += difflib.unified_diff(
                before.splitlines(), after.splitlines(), f"golden/{name}", f"render/{name}", n=1
            )
    return "\n".join(lines[:200])


def test_every_example_has_a_golden_tree() -> None:
    assert {"default"} < set(NAMES)
    for name in NAMES:
        assert (EXAMPLES / name).is_dir() or UPDATE, f"examples/{name}/ is missing"


@pytest.mark.parametrize("name", NAMES)
def test_a_fresh_render_equals_the_golden_tree(render, name: str) -> None:
    project = render(answers(name))
    golden = EXAMPLES / name
    if UPDATE:
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(project, golden, ignore=shutil.ignore_patterns(".copier-answers.yml"))
    diff = differences(tree(golden), tree(project))
    assert not diff, (
        f"examples/{name} differs from a fresh render; if the change is deliberate, "
        "rewrite it with UPDATE_EXAMPLES=1 uv run pytest tests/test_examples.py\n" + diff
    )


@pytest.fixture(scope="module")
def oldest_copier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lowest Copier release copier.yml accepts, in a virtual environment of its own."""
    version = COPIER_YML["_min_copier_version"]
    venv = tmp_path_factory.mktemp("copier") / "venv"
    run(["uv", "venv", "--quiet", str(venv)], TEMPLATE)
    run(["uv", "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
         f"copier=={version}"], TEMPLATE)  # fmt: skip
    return venv / "bin" / "copier"


@pytest.mark.parametrize("name", NAMES)
def test_the_oldest_supported_copier_renders_the_same_tree(oldest_copier, tmp_path, name) -> None:
    """_min_copier_version is the first release that renders Jinja in _exclude entries: an
    older one would render every vendor's and every target's files."""
    project = tmp_path / name
    subprocess.run(
        [str(oldest_copier), "copy", "--quiet", "--defaults", "--vcs-ref", "HEAD"]
        + ["--data-file", str(EXAMPLES / "answers" / f"{name}.yml"), str(TEMPLATE), str(project)],
        check=True,
        capture_output=True,
    )
    assert not differences(tree(EXAMPLES / name), tree(project))
