"""Every free-text answer is safe in every file it lands in: written through that file's
escaping (TOML, Python, YAML, HCL, JSON, shell) or refused by a validator that says what
is allowed. The nasty classes: quotes and backslashes, YAML keywords, numbers, unicode,
Jinja-looking text, shell metacharacters, the longest allowed values."""

import json
import shutil
import tomllib
from pathlib import Path

import copier
import hcl2
import pytest
import yaml

from conftest import TEMPLATE, run, tool

QUOTES = 'She said "it\'s done" \\ C:\\new\\table \\" end\\'
# The description is a Python string and docstring in the package: double quotes and
# backslashes are refused there, so its nastiest allowed form is single quotes, Jinja and
# shell text, at full length.
LONGEST_DESCRIPTION = ("it's {{ x }} $(y) `z` ~ " * 4)[:79] + "."
NASTY = {
    "quotes-backslashes": {
        "description": "it's the 'best' model, ' and '' quotes",
        "author_name": 'O\'Brien "ML" \\ Team',
        "author_email": 'o"brien\\ml@example.com',
    },
    "yaml-keywords-numbers": {
        "project_name": "No Go",
        "description": "null",
        "author_name": "~",
        "deploy_target": "kubernetes",
    },
    "numbers": {"project_name": "E10 Model 42", "description": "1e3", "author_name": "0x1F"},
    "unicode-jinja-shell": {
        "project_name": "On Call Model",
        "description": "Modèle – 検出 🚀 {{ 7 * 7 }} {% raw %} $(rm -rf ~); `id` && x | y > z",
        "author_name": "Zoë Ünal ${HOME} {{ author_email }}",
        "deploy_target": "kubernetes",
    },
    # The longest names on every target whose files carry them (Terraform of each cloud).
    **{
        f"longest-{target}": {
            "project_name": "A" + "b" * 38 + "Z",
            "description": LONGEST_DESCRIPTION,
            "author_name": "N" * 100,
            "data_store": store,
            "deploy_target": target,
        }
        for store, target in [
            ("s3", "kubernetes"),
            ("s3", "aws_sagemaker"),
            ("gcs", "gcp_cloud_run"),
            ("azure_blob", "azure_container_apps"),
        ]
    },
}
REFUSED = {
    "null name": ({"project_name": "Null"}, "YAML reads as null or a boolean"),
    "true name": ({"project_name": "TRUE"}, "YAML reads as null or a boolean"),
    "yes name": ({"project_name": "yes"}, "YAML reads as null or a boolean"),
    "off name": ({"project_name": "Off"}, "YAML reads as null or a boolean"),
    "keyword package": ({"project_name": "Class"}, "not a Python keyword"),
    "quoted description": ({"description": QUOTES}, "without double quotes, backslashes"),
    "backslash description": ({"description": "C:\\data"}, "without double quotes"),
    "two-line description": ({"description": "one\ntwo"}, "one line"),
    "long description": ({"description": "x" * 81}, "1-80 characters"),
    "empty description": ({"description": ""}, "1-80 characters"),
    "padded description": ({"description": " a model "}, "spaces at either end"),
    "control author": ({"author_name": "a\x7fb"}, "no line breaks or control characters"),
    "long author": ({"author_name": "n" * 101}, "1-100 characters"),
    "long package": ({"package_name": "p" * 41}, "1-40 characters"),
}


@pytest.fixture(scope="module", params=list(NASTY), ids=list(NASTY))
def nasty(request, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    answers = NASTY[request.param]
    project = tmp_path_factory.mktemp(request.param) / "project"
    copier.run_copy(str(TEMPLATE), project, data=answers, defaults=True, quiet=True)
    return answers, project


def test_toml_says_exactly_the_answers(nasty) -> None:
    answers, project = nasty
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    assert meta["description"] == answers["description"]
    assert meta["authors"][0]["name"] == answers["author_name"]
    assert meta["authors"][0]["email"] == answers.get("author_email", "ml-team@example.com")


def test_python_compiles_lints_and_is_formatted(nasty) -> None:
    _, project = nasty
    for source in project.rglob("*.py"):
        compile(source.read_text(), str(source), "exec")
    run([tool("ruff"), "check", "--no-cache", "."], project)
    run([tool("ruff"), "format", "--no-cache", "--check", "."], project)


def test_yaml_and_json_parse_and_keep_names_as_strings(nasty) -> None:
    _, project = nasty
    for path in [*project.rglob("*.yml"), *project.rglob("*.yaml")]:
        for document in yaml.safe_load_all(path.read_text()):
            assert document is not None or path.read_text().strip() == "", path
    dashboard = json.loads((project / "monitoring" / "grafana-dashboard.json").read_text())
    assert isinstance(dashboard["title"], str)
    rules = yaml.safe_load((project / "monitoring" / "alerts.yml").read_text())
    assert all(isinstance(group["name"], str) for group in rules["groups"])


def test_promtool_accepts_the_rules_and_their_tests(nasty) -> None:
    _, project = nasty
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus package) is on PATH"
    run([promtool, "check", "rules", "monitoring/alerts.yml"], project)
    run([promtool, "test", "rules", "monitoring/alerts.test.yml"], project)


def test_kustomize_builds_every_overlay_with_string_names(nasty) -> None:
    answers, project = nasty
    if answers.get("deploy_target") != "kubernetes":
        pytest.skip("no k8s/ in this answer set: the kubernetes sets cover manifests")
    for overlay in (project / "k8s" / "overlays").iterdir():
        built = list(
            yaml.safe_load_all(run(["kubectl", "kustomize", str(overlay)], project).stdout)
        )
        assert all(isinstance(doc["metadata"]["name"], str) for doc in built)


def test_hcl_parses(nasty) -> None:
    _, project = nasty
    for path in project.glob("infra/**/*.tf"):
        with path.open() as handle:
            hcl2.load(handle)


@pytest.mark.parametrize(("answers", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_unsafe_answers_are_refused_with_what_is_allowed(answers, message, tmp_path) -> None:
    with pytest.raises(ValueError, match=message):
        copier.run_copy(str(TEMPLATE), tmp_path / "p", data=answers, defaults=True, quiet=True)
