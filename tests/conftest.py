"""Shared fixtures: render each answer set once per session and share the rendered tree."""

import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import jinja2
import pytest
import yaml

import linters
from rendering import Renders

TEMPLATE = Path(__file__).resolve().parents[1]
COPIER_YML = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
# The CI stage lists, as every CI vendor's file is rendered from them.
STAGES = (
    jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE))
    .get_template("includes/pipeline.jinja")
    .module
)
# The test environment's own tools (ruff, hadolint, uv, check-jsonschema ...) come first.
TOOLS = Path(sys.executable).parent


def offered(question: str) -> list[str]:
    """The stored values a question offers, read from copier.yml so new values are tested."""
    choices = COPIER_YML[question]["choices"]
    return list(choices.values()) if isinstance(choices, dict) else list(choices)


CORE_QUESTIONS = ("ci_provider", "data_store", "deploy_target")
# The platform plan (includes/plan.yml): the facts the template reads, read here the same way.
PLAN = yaml.safe_load((TEMPLATE / "includes" / "plan.yml").read_text())
# The cloud behind each cloud-bound answer. A project uses one cloud: copier.yml refuses
# a data store on one cloud with a deploy target on another (tests/test_validators.py).
DATA_CLOUDS = {name: store["cloud"] for name, store in PLAN["stores"].items() if store["cloud"]}
TARGET_CLOUDS = {
    name: target["cloud"] for name, target in PLAN["targets"].items() if target["cloud"]
}


def derived(answers: dict) -> dict:
    """`answers` with the cloud facts copier.yml derives from them (`when: false` values are
    not stored in .copier-answers.yml), by the same rules: dvc_cloud, deploy_cloud,
    uses_<cloud>, on_s3 (the remote is Amazon S3), on_keys (an S3-compatible store)."""
    store = answers.get("data_store", "local")
    on_keys = store == "s3" and bool(answers.get("s3_endpoint_url"))
    dvc_cloud = "" if on_keys else DATA_CLOUDS.get(store, "")
    deploy_cloud = TARGET_CLOUDS.get(answers.get("deploy_target", "docker_compose"), "")
    uses = {f"uses_{c}": c in (dvc_cloud, deploy_cloud) for c in ("aws", "gcp", "azure")}
    return {
        **answers,
        "dvc_cloud": dvc_cloud,
        "deploy_cloud": deploy_cloud,
        "on_s3": dvc_cloud == "aws",
        "on_keys": on_keys,
        **uses,
    }


def clouds(answers: dict) -> set[str]:
    facts = derived(answers)
    return {facts["dvc_cloud"], facts["deploy_cloud"]} - {""}


def stored_answers(project: Path) -> dict:
    """A rendered project's .copier-answers.yml, with the derived cloud facts."""
    return derived(yaml.safe_load((project / ".copier-answers.yml").read_text()))


def made_identities(project: Path, cloud: str) -> set[str]:
    """The CI identities (plan.identities: ci, ci_pr, ci_production) that a rendered
    project's Terraform makes in `cloud` (infra/<cloud>/ci.tf)."""
    text = (project / "infra" / cloud / "ci.tf").read_text()
    names = {identity["name"] for identity in PLAN["identities"].values()}
    return {name for name in names if re.search(rf'^resource "[a-z_]+" "{name}" {{', text, re.M)}


def assert_keys_are_split(key_scopes, project: Path) -> None:
    """What a key-based CI vendor's file promises, as its tests' key_scopes(project, cloud)
    reads it: pull requests hold the pull-request identity's key where the Terraform makes
    one (it reads the DVC remote only), else none; main's releases hold the release key
    (and, in main's run of the pull request stages, the pull-request one), never the
    production one; the production deploy holds the production identity's key where one
    is made, else the release one's, and none where the service is on no cloud."""
    given = stored_answers(project)
    for cloud in clouds(given):
        made = made_identities(project, cloud)
        scopes = key_scopes(project, cloud)
        assert scopes["pull_request"] == {"ci_pr"} & made, cloud
        assert {"ci"} <= scopes["release"] <= {"ci", "ci_pr"}, cloud
        production = {"ci_production" if "ci_production" in made else "ci"}
        assert scopes["production"] == (production if given["deploy_cloud"] == cloud else set())


# The files each CI vendor renders (the same for every other answer), in the order its
# flows appear: pull requests, release, schedule. The parity check reads them so.
CI_FILES = {name: vendor["files"] for name, vendor in PLAN["vendors"].items()}


def ci_text(project: Path, vendor: str) -> str:
    """Everything the vendor's CI files of `project` say, as one text."""
    return "\n".join((project / name).read_text() for name in CI_FILES[vendor])


# Every combination of the three core answers that copier.yml accepts, plus the variants
# other answers open up.
COMBINATIONS = [
    answers
    for values in itertools.product(*(offered(q) for q in CORE_QUESTIONS))
    if len(clouds(answers := dict(zip(CORE_QUESTIONS, values, strict=True)))) <= 1
]
VARIANTS = {
    "s3-compatible": {"data_store": "s3", "s3_endpoint_url": "https://minio.example.com:9000"},
    # The store's access keys and the AWS role of the service must not shadow each other.
    "s3-compatible-ecs": {
        "data_store": "s3",
        "s3_endpoint_url": "https://minio.example.com:9000",
        "deploy_target": "aws_ecs",
    },
    "s3-compatible-sagemaker": {
        "data_store": "s3",
        "s3_endpoint_url": "https://minio.example.com:9000",
        "deploy_target": "aws_sagemaker",
    },
    "python-3.13": {"python_version": "3.13", "project_name": "Churn Model"},
}


# The run scopes of a key-based vendor's jobs (tests/test_ci_policy.py, the key_scopes of
# tests/test_ci_<vendor>.py): pull requests and other branches, the default branch and
# staging, the production deploy.
KEY_SCOPES = ("pull_request", "release", "production")


def identity_of(name: str, pattern: str = "{suffix}") -> str | None:
    """The CI identity (plan.identities: ci, ci_pr, ci_production) that a resource of the
    vendor's secret store belongs to, by its name: <anything>-<pattern with the identity's
    suffix>, such as the variable group ml-project-ci-pr or the key file
    gcp-ci-production-key.json; None for any other name."""
    by_length = sorted(PLAN["identities"].values(), key=lambda i: -len(i["suffix"]))
    for identity in by_length:
        if name.endswith("-" + pattern.format(suffix=identity["suffix"])):
            return identity["name"]
    return None


def secret_identities(text: str, cloud: str) -> set[str]:
    """The CI identities whose secret variable (plan.clouds.<cloud>.secret) the shell in
    `text` reads ($NAME, ${NAME}); a variable it only assigns does not count."""
    secrets = PLAN["clouds"][cloud].get("secret", {})
    return {
        PLAN["identities"][kind]["name"]
        for kind, variable in secrets.items()
        if re.search(rf"\$\{{?{variable}\b", text)
    }


def combo_id(answers: dict) -> str:
    return "-".join(str(v) for v in answers.values())


def vendor_answer_sets(vendor: str, **custom) -> dict[str, dict]:
    """What a CI vendor's tests render: every accepted combination with that vendor, every
    variant, and `custom` (the vendor's own questions, an unusual schedule) as "custom"."""
    sets = {combo_id(a): a for a in COMBINATIONS if a["ci_provider"] == vendor}
    sets |= {name: {**answers, "ci_provider": vendor} for name, answers in VARIANTS.items()}
    return sets | {"custom": {"ci_provider": vendor, **custom}}


def tool(name: str) -> str:
    path = TOOLS / name
    return str(path) if path.exists() else shutil.which(name) or name


# Where the Python processes the tests start keep their bytecode. Some machines (this one)
# set PYTHONDONTWRITEBYTECODE, and uv installs no bytecode: every process of a rendered
# project then compiled scikit-learn, pandas and DVC from source again (a DVC stage took 7 s
# instead of 2.5 s). Kept outside the projects, so that their trees stay as rendered. Every
# process started from here on inherits it (rendered projects, Copier, render processes).
PYCACHE = Path(tempfile.gettempdir()) / "copier-mlops-pycache"
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
os.environ["PYTHONPYCACHEPREFIX"] = str(PYCACHE)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for commands run inside a rendered project: no template venv leaks in."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    env["PATH"] = f"{TOOLS}{os.pathsep}{env.get('PATH', '')}"
    # DVC sends usage reports and checks for updates unless told not to: tests stay on loopback.
    env["DVC_NO_ANALYTICS"] = "1"
    return {**env, **extra}


def run(cmd: list[str], cwd: Path, check: bool = True, **env: str):
    """Run a command; on failure show its output, which pytest would otherwise hide."""
    result = subprocess.run(cmd, cwd=cwd, env=clean_env(**env), capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result


def git_commit_all(project: Path, message: str) -> None:
    if not (project / ".git").exists():
        run(["git", "init", "-q", "-b", "main"], project)
    run(["git", "add", "-A"], project)
    run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
        + ["commit", "-q", "--no-verify", "-m", message],
        project,
    )


# Every answer set the suite is known to render: the combinations, the variants with each
# vendor, and the golden examples. A full run renders them up front (tests/rendering.py).
KNOWN_SETS = [
    *COMBINATIONS,
    *VARIANTS.values(),
    *(
        {**answers, "ci_provider": vendor}
        for vendor in offered("ci_provider")
        for answers in VARIANTS.values()
    ),
    *(
        yaml.safe_load(path.read_text()) or {}
        for path in sorted((TEMPLATE / "examples" / "answers").glob("*.yml"))
    ),
]


PREFETCH = pytest.StashKey[bool]()

# pytest-xdist (pyproject's addopts: `-n auto --dist loadgroup`) runs the suite in one
# process per CPU. A test module stays in one process, so its batched linter runs once; the
# modules that share the default project's end-to-end run (README command 1) or the Docker
# engine run in one process together.
SHARED_GROUPS = dict.fromkeys(
    (
        "test_default_project.py",
        "test_drift_inputs.py",
        "test_image.py",
        "test_image_sagemaker.py",
        "test_own_data.py",
        "test_readme_commands.py",
        "test_tracking.py",
    ),
    "default-project",
)


# tryfirst: xdist reads the groups in a hook of its own, registered before this file.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Render everything ahead only when the run reads every combination (test_render); keep
    each module, or group of modules sharing a session resource, in one process."""
    config.stash[PREFETCH] = any(item.path.name == "test_render.py" for item in items)
    for item in items:
        group = SHARED_GROUPS.get(item.path.name, item.path.stem)
        item.add_marker(pytest.mark.xdist_group(group))
    # The groups with end-to-end tests (minutes each) start first, so that no process is
    # left with a long one at the end while the other idles; the order within stays.
    slow = {group_of(item) for item in items if item.get_closest_marker("e2e")}
    items.sort(key=lambda item: group_of(item) not in slow)


def group_of(item: pytest.Item) -> str:
    return item.get_closest_marker("xdist_group").args[0]


@pytest.fixture(scope="session")
def render(request, tmp_path_factory: pytest.TempPathFactory):
    """render(answers) -> the rendered project, made once per distinct answer set (once per
    run: the processes of an xdist run share the renders' folder)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = tmp_path_factory.getbasetemp()
    renders = Renders(TEMPLATE, (base.parent if worker else base) / "renders", workers=1)
    if request.config.stash.get(PREFETCH, False):
        # Each process starts at its own share of the list, so they split the work.
        count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
        start = int(worker.removeprefix("gw")) * len(KNOWN_SETS) // count if worker else 0
        renders.prefetch(KNOWN_SETS[start:] + KNOWN_SETS[:start])
    yield renders
    renders.close()


@pytest.fixture(scope="session")
def default_project(render) -> Path:
    return render({})


def readme_command_1() -> str:
    """The lines of the root README's `# 1.` command, as written."""
    readme = (TEMPLATE / "README.md").read_text()
    return re.search(r"^# 1\..*?\n(.*?)\n\n", readme, re.MULTILINE | re.DOTALL).group(1)


def readme_commands(readme: str) -> list[str]:
    """Every command of a README's bash blocks, as written (a trailing `# ...` comment
    dropped; a line ending in a backslash joined to the next)."""
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.DOTALL)
    lines = "\n".join(blocks).replace("\\\n", " ").splitlines()
    commands = [re.sub(r"\s+#\s.*$", "", line).strip() for line in lines]
    return [c for c in commands if c and not c.startswith("#")]


def data_commands(readme: str) -> list[str]:
    """The commands of a rendered README's "Your own data" section, as written."""
    section = readme.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    return readme_commands(section)


@pytest.fixture(scope="session")
def readme_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(template, project): the root README's command 1 run exactly as written, in a clone of
    the template tagged as its next release, which renders ../ml-project, installs it and runs
    its `make ci`; that output is in the project's .make-ci.log. The suite's one end-to-end
    run of the default project: the serving, gate, image and update tests share it."""
    from template_clone import next_release, tagged_clone  # it imports this module

    root = tmp_path_factory.mktemp("readme")
    template = tagged_clone(root / "copier-mlops", next_release())
    output = run(["bash", "-c", readme_command_1()], template).stdout
    project = root / "ml-project"
    (project / ".make-ci.log").write_text(output)
    return template, project


@pytest.fixture(scope="session")
def ci_project(readme_run: tuple[Path, Path]) -> Path:
    """A git repository of the default render, installed, after one `make ci` (README
    command 1); its output is in .make-ci.log."""
    return readme_run[1]


# The bucket that the S3 project's remote names, which its emulator tests create.
S3_BUCKET = "ml-project-dvc"


@pytest.fixture(scope="session")
def s3_project(render, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository of a render with an S3 DVC remote (S3_BUCKET), installed. Shared by
    the DVC round trip and the release's model verification, each of which points the
    remote at an emulator of its own (a --local endpointurl)."""
    project = tmp_path_factory.mktemp("s3") / "ml-project"
    shutil.copytree(render({"data_store": "s3", "s3_bucket": S3_BUCKET}), project)
    git_commit_all(project, "Start from copier-mlops")
    run(["make", "install"], project)
    return project


@pytest.fixture(scope="session")
def schema_errors(render, tmp_path_factory: pytest.TempPathFactory):
    """schema_errors(schema_args, project, name) -> check-jsonschema's findings for the file
    `name` of `project`. The first call for a schema checks that file of every project
    rendered so far in one run (deduplicated by content); later calls read the results."""
    results: dict[tuple, dict[Path, list[str]]] = {}

    def check(schema_args: tuple[str, ...], project: Path, name: str) -> list[str]:
        known = results.setdefault((schema_args, name), {})
        if project not in known:
            projects = {p for p in render.rendered().values() if (p / name).is_file()}
            projects = (projects | {project}) - known.keys()
            known |= linters.json_schema(
                tool("check-jsonschema"),
                list(schema_args),
                {p: p / name for p in projects},
                tmp_path_factory.mktemp("schema"),
            )
        return known[project]

    return check
