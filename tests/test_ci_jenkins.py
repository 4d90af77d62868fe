"""The Jenkins adapter: the rendered Jenkinsfile passes npm-groovy-lint, and its declarative
pipeline runs the stages of includes/pipeline.jinja under the right `when` conditions, with
production behind an `input`, retraining on the answered cron in UTC, and no secret in it."""

import os
import re
import shutil
from pathlib import Path

import pytest

from conftest import (
    PLAN,
    STAGES,
    TEMPLATE,
    assert_keys_are_split,
    clouds,
    made_identities,
    run,
    stored_answers,
    vendor_answer_sets,
)

NPM_GROOVY_LINT = TEMPLATE / ".ci" / "tools" / "npm-groovy-lint"

ANSWER_SETS = vendor_answer_sets("jenkins", retrain_schedule="*/30 2-4 1,15 * 1-5")
# The ends of the IDs of the Jenkins credentials that hold a CI identity's key, by cloud:
# their starts are the plan's (vendors.jenkins.credentials).
CREDENTIAL_ENDS = {
    "aws": ("-access-key-id", "-secret-access-key"),
    "gcp": ("-key",),
    "azure": ("-client-id", "-tenant-id", "-client-secret"),
}
CREDENTIAL = re.compile(r"credentials\('([^']+)'\)|credentialsId: '([^']+)'")
MAKE = re.compile(r"\bmake ([a-z-]+)(.*?)'*\)*$")
# Setup, not stages: the environment, and docker's login to a Google Cloud or Azure registry.
SETUP_TARGETS = {"install", "registry-login"}


@pytest.fixture(scope="module", params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def project(request, render) -> Path:
    return render(ANSWER_SETS[request.param])


class Stage:
    """One `stage('name') { ... }` block of the Jenkinsfile: its text and nested stages."""

    def __init__(self, name: str, body: str):
        self.name = name
        self.body = body
        self.children = top_level_stages(body)

    def section(self, keyword: str) -> str:
        """The text of a directive of this stage (when, input, environment...), not of a child."""
        own = self.body
        for child in self.children:
            own = own.replace(child.body, "")
        match = re.search(rf"^\s*{keyword} \{{", own, re.M)
        return block(own, match.end() - 1) if match else ""

    def make_calls(self) -> list[tuple[str, str]]:
        """(target, arguments) of every `make` call, `make install` (setup) excluded."""
        calls = []
        for line in self.body.splitlines():
            match = MAKE.search(line.strip())
            if match and not line.strip().startswith("//") and match[1] not in SETUP_TARGETS:
                calls.append((match[1], match[2].strip()))
        return calls


def block(text: str, start: int) -> str:
    """The text between the brace at `start` and its matching closing brace."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
    raise AssertionError(f"unbalanced braces from {start}")


def top_level_stages(text: str) -> list[Stage]:
    """The stages of the first `stages { }` block of text, in order."""
    match = re.search(r"^\s*stages \{", text, re.M)
    if not match:
        return []
    body = block(text, match.end() - 1)
    stages, position = [], 0
    while found := re.compile(r"stage\('([^']+)'\) \{").search(body, position):
        inner = block(body, found.end() - 1)
        stages.append(Stage(found[1], inner))
        position = found.end() + len(inner)
    return stages


def jenkinsfile(project: Path) -> str:
    return (project / "Jenkinsfile").read_text()


def pipeline(project: Path) -> Stage:
    text = jenkinsfile(project)
    return Stage("pipeline", block(text, text.index("pipeline {") + len("pipeline ")))


def identity_of(cloud: str, credential: str) -> str | None:
    """The CI identity (plan.identities: ci, ci_pr, ci_production) whose key the Jenkins
    credential `credential` holds in `cloud`, None for any other credential."""
    for kind, start in PLAN["vendors"]["jenkins"]["credentials"][cloud].items():
        if credential in {start + end for end in CREDENTIAL_ENDS[cloud]}:
            return PLAN["identities"][kind]["name"]
    return None


def key_scopes(project: Path, cloud: str) -> dict[str, set[str]]:
    """For each run scope, the CI identities of `cloud` whose key the Jenkinsfile's stages
    of that scope bind: 'pull_request' (pull requests and other branches: a stage whose
    `when` admits changeRequest(), or names no branch at all), 'release' (a stage that runs
    on main, without an `input`), 'production' (a stage on main behind an `input`: the
    production deploy). A stage holds the credentials of its own `environment` and steps,
    and of its parents' and the pipeline's `environment`."""
    scopes: dict[str, set[str]] = {"pull_request": set(), "release": set(), "production": set()}

    def visit(stage: Stage, whens: str, held: str) -> None:
        whens += stage.section("when")
        held += stage.section("environment")
        if stage.children:
            for child in stage.children:
                visit(child, whens, held)
            return
        found = CREDENTIAL.findall(held + stage.body)
        identities = {identity_of(cloud, a or b) for a, b in found} - {None}
        if "changeRequest()" in whens or "branch '" not in whens:
            scopes["pull_request"] |= identities
        if "branch 'main'" in whens or "branch '" not in whens:
            scopes["production" if stage.section("input") else "release"] |= identities

    root = pipeline(project)
    for stage in root.children:
        visit(stage, "", root.section("environment"))
    return scopes


def test_each_scope_binds_only_the_key_of_its_identity(project: Path) -> None:
    assert_keys_are_split(key_scopes, project)


def test_npm_groovy_lint_finds_no_error(render) -> None:
    """One run over every rendered Jenkinsfile: npm-groovy-lint starts a JVM each time."""
    bin_dir = NPM_GROOVY_LINT / "node_modules" / ".bin"
    if not (bin_dir / "npm-groovy-lint").exists():
        pytest.fail(
            "install npm-groovy-lint first: "
            f"npm ci --prefix {NPM_GROOVY_LINT.relative_to(TEMPLATE)}"
        )
    if shutil.which("java") is None:
        pytest.skip("npm-groovy-lint needs Java 17 or later")
    files = [str(render(answers) / "Jenkinsfile") for answers in ANSWER_SETS.values()]
    # The Node 22 it needs comes with it (the npm package `node`); --noserver starts no daemon.
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    command = ["npm-groovy-lint", "--noserver", "--failon", "error", "--output", "txt"]
    run([str(bin_dir / "npm-groovy-lint"), *command[1:], *files], TEMPLATE, PATH=path)


def test_stages_run_the_stage_list_in_order(project: Path) -> None:
    ci, release, retrain, *update = pipeline(project).children
    pr_names = [stage["name"] for stage in STAGES.pr_stages]
    assert ci.name == ", ".join(pr_names).capitalize()
    assert [child.name for child in ci.children] == ["setup", *pr_names]
    assert [t for child in ci.children for t, _ in child.make_calls()] == STAGES.pr_targets

    assert release.name == "Release"
    assert [c.name for c in release.children] == [s["name"] for s in STAGES.release_stages]
    for child, stage in zip(release.children, STAGES.release_stages, strict=True):
        env = f"ENV={stage['env']} " if stage["env"] else ""
        expected = [
            (t, f'{env}REGISTRY="$REGISTRY" TAG="$GIT_COMMIT"' if t in ("build", "deploy") else "")
            for t in stage["targets"]
        ]
        assert child.make_calls() == expected, child.name

    assert retrain.name == "Monitor"
    assert [c.name for c in retrain.children] == [s["name"] for s in STAGES.retrain_stages]
    assert [t for c in retrain.children for t, _ in c.make_calls()] == STAGES.retrain_targets

    assert [stage.name for stage in update] == [s["title"] for s in STAGES.update_stages]
    assert [t for stage in update for t, _ in stage.make_calls()] == STAGES.update_targets


def test_when_conditions_route_pull_requests_main_and_the_timer(project: Path) -> None:
    ci, release, retrain, *update = pipeline(project).children
    when = ci.section("when")
    assert "changeRequest()" in when and "branch 'main'" in when and "anyOf" in when
    assert "not { triggeredBy 'TimerTrigger' }" in when
    assert "not { expression { params.RETRAIN } }" in when

    when = release.section("when")
    assert "branch 'main'" in when and "not { triggeredBy 'TimerTrigger' }" in when
    assert "changeRequest" not in when

    when = retrain.section("when")
    assert "branch 'main'" in when and "triggeredBy 'TimerTrigger'" in when
    assert "not {" not in when
    assert "booleanParam(name: 'RETRAIN', defaultValue: false" in jenkinsfile(project)
    # The template update: the timer's builds only, not a build started with RETRAIN.
    for stage in update:
        when = stage.section("when")
        assert "branch 'main'" in when and "triggeredBy 'TimerTrigger'" in when
        assert "RETRAIN" not in when


def test_production_waits_for_an_input_and_nothing_else_does(project: Path) -> None:
    release = pipeline(project).children[1]
    for child, stage in zip(release.children, STAGES.release_stages, strict=True):
        assert bool(child.section("input")) == stage["approval"], child.name
        if stage["approval"]:
            assert "message 'Deploy this build to production?'" in child.section("input")
            # The input is answered before an agent is taken, so no executor waits.
            assert "beforeInput true" in child.section("when")
        assert "agent any" in child.body and "beforeAgent true" in child.section("when")


def test_the_cron_is_the_answer_in_utc_on_main_only(project: Path) -> None:
    triggers = pipeline(project).section("triggers")
    match = re.search(r"cron\(env\.BRANCH_NAME == 'main' \? '''(.*?)''' : ''\)", triggers, re.S)
    assert match, triggers
    assert match[1].split("\n") == ["TZ=UTC", stored_answers(project)["retrain_schedule"]]


def test_options_bound_the_build(project: Path) -> None:
    options = pipeline(project).section("options")
    assert "disableConcurrentBuilds()" in options
    assert "buildDiscarder(logRotator(" in options
    assert "timeout(time: 1, unit: 'DAYS')" in options
    for stage in pipeline(project).children:
        for child in [stage, *stage.children]:
            if "agent any" in child.body and not child.children:
                assert "timeout(time:" in child.section("options"), child.name


def test_history_and_origin_main_are_fetched_before_the_gate(project: Path) -> None:
    setup = pipeline(project).children[0].children[0]
    assert "git fetch --unshallow" in setup.body
    assert "+refs/heads/main:refs/remotes/origin/main" in setup.body
    archive = pipeline(project).children[0].section("post")
    assert "archiveArtifacts artifacts: 'reports/**'" in archive


def test_credentials_come_from_the_jenkins_store(project: Path) -> None:
    given = stored_answers(project)
    text = jenkinsfile(project)
    credentials = set(re.findall(r"credentials\('([a-z-]+)'\)", text))
    expected = set()
    if given["on_keys"]:
        expected |= {"dvc-remote-access-key-id", "dvc-remote-secret-access-key"}
    on_aws = given["on_s3"]
    service_cloud = given["deploy_cloud"]
    # The key of each CI identity the Terraform makes, from the credentials the plan names.
    for cloud in clouds(given):
        starts = PLAN["vendors"]["jenkins"]["credentials"][cloud]
        for kind, identity in PLAN["identities"].items():
            if identity["name"] in made_identities(project, cloud):
                expected |= {starts[kind] + end for end in CREDENTIAL_ENDS[cloud]}
    if on_aws or service_cloud == "aws":
        assert f"AWS_REGION = '{given['aws_region']}'" in text
        assert 'aws sts assume-role --role-arn "$CI_AWS_ROLE_ARN"' in text
        assert "return '''set +x\n" in text  # the role's credentials stay out of the log
        # Each binding of a key names the role of the same identity.
        roles = PLAN["clouds"]["aws"]["identity"]
        for kind, start in PLAN["vendors"]["jenkins"]["credentials"]["aws"].items():
            key = f"CI_AWS_SECRET_ACCESS_KEY = credentials('{start}-secret-access-key')"
            role = f'CI_AWS_ROLE_ARN = "${{env.{roles[kind]}}}"'
            lines = [line.strip() for line in text.splitlines()]
            for index, line in enumerate(lines):
                if line == key:
                    assert lines[index + 1] == role, kind
    else:
        assert "asCiRole" not in text and "AWS_ROLE_ARN" not in text
    if given["deploy_target"] == "docker_compose":
        expected |= {"registry"}
        # The production deploy and the scheduled drift check reach the Docker host.
        agents = re.findall(r"sshagent\(credentials: \[[^\]]*'deploy-ssh-key'\]\)", text)
        assert len(agents) == 3
        assert 'DOCKER_HOST = "ssh://${env.DEPLOY_HOST}"' in text
    elif given["deploy_target"] == "kubernetes":
        expected |= {"registry", "kubeconfig"}
        assert text.count("KUBECONFIG = credentials('kubeconfig')") == 3
    elif service_cloud == "aws":
        # ECR: the project's own login as the CI role, right before the build, in one
        # asCiRole call; the deploy, which pushes nothing, logs in nowhere.
        assert "get-login-password" not in text
        build = 'make build REGISTRY="$REGISTRY" TAG="$GIT_COMMIT"'
        login = 'make registry-login REGISTRY="$REGISTRY"'
        assert text.count(login) == 1
        assert f"sh asCiRole('''\n{login}\n{build}\n''')" in re.sub(r"\n\s+", "\n", text)
    else:
        # Artifact Registry / ACR: the project's own login, right before the build.
        login = """sh 'make registry-login REGISTRY="$REGISTRY"'"""
        assert text.count(login) == 1
        lines = [line.strip() for line in text.splitlines()]
        build = """sh 'make build REGISTRY="$REGISTRY" TAG="$GIT_COMMIT"'"""
        assert lines[lines.index(login) + 1] == build
    assert credentials == expected


def test_no_secret_is_in_the_file(project: Path) -> None:
    text = jenkinsfile(project)
    assert not re.search(r"AKIA[0-9A-Z]{16}", text)
    assert "BEGIN" not in text and "PRIVATE KEY" not in text
    for line in text.splitlines():
        # Every value of a variable named like a secret comes from credentials().
        match = re.match(r"\s*([A-Z_]*(KEY|SECRET|TOKEN|PASSWORD)[A-Z_]*) = (.*)$", line)
        if match:
            assert match[3].startswith("credentials('"), line
    # Secrets reach the shell through the environment, never through Groovy interpolation.
    assert not re.search(r'sh "[^"]*\$\{', text)


def test_monitor_reads_production_once_it_is_configured(project: Path) -> None:
    given = stored_answers(project)
    monitor = pipeline(project).children[2]
    switch = {"docker_compose": "DEPLOY_HOST"}.get(given["deploy_target"], "REGISTRY")
    if given["deploy_cloud"] == "aws":
        switch = "AWS_ROLE_ARN"
        # The drift check reads the service's inputs with the CI role.
        assert "sh asCiRole('make monitor')" in monitor.body
    # A fresh repository's schedule stays green: nothing to read until it is configured.
    assert f"expression {{ (env.{switch} ?: '') != '' }}" in monitor.section("when")
    environment = monitor.section("environment")
    for cloud, credential in {
        "aws": "aws-ci-access-key-id",
        "gcp": "gcp-ci-key",
        "azure": "azure-client-id",
    }.items():
        assert (f"credentials('{credential}')" in environment) == (cloud in clouds(given))
    if given["deploy_target"] == "kubernetes":
        assert "KUBECONFIG = credentials('kubeconfig')" in environment
    if given["deploy_target"] == "docker_compose":
        assert 'DOCKER_HOST = "ssh://${env.DEPLOY_HOST}"' in environment
    # The drift report (reports/drift.json) is kept with the build.
    assert "archiveArtifacts artifacts: 'reports/**'" in monitor.section("post")
