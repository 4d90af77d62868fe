"""Every offered answer renders a clean repository: no template left, parseable config,
formatted code, and only the files the answers call for."""

import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

import linters
from conftest import COMBINATIONS, COPIER_YML, VARIANTS, clouds, combo_id, tool
from rendering import render_into

ANSWER_SETS = {combo_id(a): a for a in COMBINATIONS} | VARIANTS
QUESTIONS = "|".join(k for k in COPIER_YML if not k.startswith("_"))
LEFTOVER = re.compile(
    r"\{%-?\s*(if|for|set|endif|endfor|else|elif|macro|import|include|raw)\b"
    rf"|\{{\{{-?\s*({QUESTIONS}|_copier_conf|_copier_answers)\b|\bTODO\b|\bFIXME\b"
    r"|NotImplementedError"
)


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def project(request, render) -> Path:
    return render(ANSWER_SETS[request.param])


def files(project: Path, *suffixes: str) -> list[Path]:
    return sorted(
        p
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts and (not suffixes or p.name.endswith(suffixes))
    )


def test_answers_are_recorded_for_copier_update(project: Path) -> None:
    """The answers and the source (these renders come from a plain folder, see
    rendering.snapshot; the release a project records, `_commit`, is checked on a render of
    a tagged clone by tests/test_readme_commands.py)."""
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert {"_src_path", "ci_provider", "data_store", "deploy_target"} <= set(answers)


def test_no_template_syntax_or_placeholder_is_left(project: Path) -> None:
    leftovers = []
    for path in files(project):
        match = LEFTOVER.search(path.read_text())
        if match:
            leftovers.append(f"{path.relative_to(project)}: {match.group(0)}")
    assert not leftovers


class CiYamlLoader(yaml.SafeLoader):
    """Safe YAML plus the tags CI vendors define: GitLab's `!reference [job, key]`."""


CiYamlLoader.add_constructor("!reference", lambda loader, node: loader.construct_sequence(node))


def test_structured_files_parse(project: Path) -> None:
    for path in files(project, ".yml", ".yaml"):
        assert yaml.load(path.read_text(), Loader=CiYamlLoader) is not None, path
    for path in files(project, ".toml"):
        tomllib.loads(path.read_text())
    for path in files(project, ".json"):
        json.loads(path.read_text())


@pytest.fixture(scope="module")
def lint_findings(render, tmp_path_factory) -> dict[str, dict[Path, list[str]]]:
    """ruff and hadolint, each run once over the distinct files of every answer set."""
    projects = [render(answers) for answers in ANSWER_SETS.values()]
    return {
        "ruff": linters.ruff(tool("ruff"), projects, tmp_path_factory.mktemp("ruff")),
        "hadolint": linters.hadolint(tool("hadolint"), projects, tmp_path_factory.mktemp("hado")),
    }


def test_python_is_lint_clean_and_formatted(project: Path, lint_findings) -> None:
    assert not lint_findings["ruff"][project]


def test_no_file_has_blank_line_runs_or_trailing_spaces(project: Path) -> None:
    """Jinja control lines must not leave holes: the output reads as if written by hand.
    Python files are held to `ruff format` instead, which wants two blank lines in places."""
    for path in files(project):
        text = path.read_text()
        assert path.suffix == ".py" or "\n\n\n" not in text, (
            f"{path.relative_to(project)} has 2+ blank lines in a row"
        )
        assert not re.search(r"[ \t]+$", text, re.M), f"{path.relative_to(project)}: trailing space"
        assert text.endswith("\n") and not text.endswith("\n\n"), path.relative_to(project)


def test_dockerfile_is_hadolint_clean(project: Path, lint_findings) -> None:
    assert not lint_findings["hadolint"][project]


def test_only_the_chosen_options_render_their_files(project: Path) -> None:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    deploy = answers["deploy_target"]
    assert sorted(p.name for p in (project / "deploy").glob("*.py")) == sorted(
        ["rollout.py", "inputs.py", f"{deploy}.py"]
    )
    assert (project / "compose.yaml").exists() == (deploy == "docker_compose")
    infra = {p.name for p in (project / "infra").glob("*")} - {"bootstrap"}
    assert infra == clouds(answers), "one Terraform root module per cloud the answers involve"
    bootstrap = {p.name for p in (project / "infra" / "bootstrap").glob("*")}
    assert bootstrap == clouds(answers), "and the module that creates its state store"


def expected_remote(answers: dict) -> tuple[str, str]:
    """The remote url line of .dvc/config, and the dvc extra, that an answer set calls for."""
    store = answers["data_store"]
    return {
        "local": (f"url = ../{answers.get('dvc_local_remote')}", ""),
        "s3": (f"url = s3://{answers.get('s3_bucket')}/dvc", "[s3]"),
        "gcs": (f"url = gs://{answers.get('gcs_bucket')}/dvc", "[gs]"),
        "azure_blob": (f"url = azure://{answers.get('azure_container')}/dvc", "[azure]"),
        "ssh": (
            f"url = ssh://{answers.get('ssh_user')}@{answers.get('ssh_host')}:"
            f"{answers.get('ssh_port')}{answers.get('ssh_path')}",
            "[ssh]",
        ),
    }[store]


def test_dvc_remote_is_the_chosen_store(project: Path) -> None:
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    config = (project / ".dvc" / "config").read_text()
    url, extra = expected_remote(answers)
    assert url in config
    assert ("endpointurl" in config) == bool(answers.get("s3_endpoint_url"))
    dev = tomllib.loads((project / "pyproject.toml").read_text())["dependency-groups"]["dev"]
    dvc = next(d for d in dev if d.startswith("dvc"))
    assert dvc.startswith(f"dvc{extra}>")


# Rendering is deterministic when it does not depend on the vendor's files: one set per
# vendor covers every template file a second time (the targets and stores in between).
ONE_PER_VENDOR = {
    vendor: next(a for a in COMBINATIONS if a["ci_provider"] == vendor)
    for vendor in dict.fromkeys(a["ci_provider"] for a in COMBINATIONS)
}


@pytest.mark.parametrize("vendor", list(ONE_PER_VENDOR))
def test_rendering_twice_gives_the_same_tree(render, tmp_path: Path, vendor: str) -> None:
    answers = ONE_PER_VENDOR[vendor]
    first = render(answers)
    again = Path(render_into(render.template, answers, str(tmp_path / "again")))

    def tree(root: Path) -> dict[Path, str]:
        return {p.relative_to(root): p.read_text() for p in files(root)}

    assert tree(first) == tree(again)
