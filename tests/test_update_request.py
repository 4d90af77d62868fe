"""The scheduled template-update job (`make template-update-request`, tools/update_request.py):
against fake GitHub, GitLab, Bitbucket and Azure DevOps APIs on 127.0.0.1 it opens one
pull request, refreshes the open one instead of opening a second, lists the conflicts in
its description, fails clearly on an API error and never prints the token; with nothing to
update it calls no API. Once end to end: a project one release behind, a fake GitHub, and
the branch it pushes."""

import importlib
import json
import re
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml

from conftest import PLAN, TEMPLATE, run
from conftest import tool as tool_path
from fake_http import JsonHandler, serve
from template_clone import (
    git,
    next_release,
    project_with_its_own_lint,
    release_a_change,
    tagged_clone,
)

TOKEN = "s3cr3t-t0ken-value"
REF = "v9.9.9"
ENVIRONMENTS = {
    "github": lambda url: {
        "GITHUB_API_URL": url,
        "GITHUB_REPOSITORY": "acme/churn-model",
        "GITHUB_REF_NAME": "main",
    },
    "gitlab": lambda url: {
        "CI_API_V4_URL": f"{url}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_COMMIT_BRANCH": "main",
    },
    "bitbucket": lambda url: {
        "BITBUCKET_REPO_FULL_NAME": "acme/churn-model",
        "BITBUCKET_BRANCH": "main",
    },
    "azure_devops": lambda url: {
        "SYSTEM_COLLECTIONURI": f"{url}/acme/",
        "SYSTEM_TEAMPROJECT": "ML Models",
        "BUILD_REPOSITORY_ID": "3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718",
        "BUILD_SOURCEBRANCH": "refs/heads/main",
        "BUILD_REPOSITORY_PROVIDER": "TfsGit",
    },
}


def as_host(api: str, number: int, title: str) -> dict:
    """A pull request as each host's API returns it."""
    return {
        "github": {"number": number, "title": title, "html_url": f"https://gh/pull/{number}"},
        "gitlab": {"iid": number, "title": title, "web_url": f"https://gl/mr/{number}"},
        "bitbucket": {
            "id": number,
            "title": title,
            "links": {"html": {"href": f"https://bb/{number}"}},
        },
        "azure_devops": {"pullRequestId": number, "title": title, "url": f"https://az/{number}"},
    }[api]


def listing(api: str, pulls: list[dict]):
    return {"bitbucket": {"values": pulls}, "azure_devops": {"value": pulls}}.get(api, pulls)


class FakeApi:
    """A git host's API on 127.0.0.1: GET lists `open` (the pull requests already open),
    POST opens number 8, PATCH/PUT refresh; `status` != 200 fails every call. Records each
    call as (method, path, query, headers, body)."""

    def __init__(self, api: str, open_requests: list[dict] | None = None, status: int = 200):
        self.api, self.open, self.status, self.calls = api, open_requests or [], status, []
        fake = self

        class Handler(JsonHandler):
            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                headers = {name.lower(): value for name, value in self.headers.items()}
                fake.calls.append((self.command, url.path, query, headers, body))
                if fake.status != 200:
                    self.answer(fake.status, {"message": "Resource not accessible by token"})
                elif self.command == "GET":
                    self.answer(200, listing(fake.api, fake.open))
                else:
                    number = 8 if self.command == "POST" else 7
                    self.answer(201, as_host(fake.api, number, body["title"]))

            do_GET = do_POST = do_PATCH = do_PUT = handle_any

        self.server, self.url = serve(Handler)

    def methods(self) -> list[str]:
        return [call[0] for call in self.calls]

    def written(self) -> dict:
        (body,) = [call[4] for call in self.calls if call[0] != "GET"]
        return body


@pytest.fixture(scope="module")
def tool(render):
    """tools/update_request.py of a rendered project, imported as the job runs it."""
    tools = render({}) / "tools"
    sys.path.insert(0, str(tools))
    try:
        yield importlib.import_module("update_request")
    finally:
        sys.path.remove(str(tools))
        sys.modules.pop("update_request", None)
        sys.modules.pop("template_update", None)


@pytest.fixture
def fake(request, monkeypatch, tool):
    """fake(api, open_requests, status) -> a FakeApi; the job's update, commit and push are
    recorded instead of run (the end-to-end test below runs them)."""
    servers, done = [], []

    def start(api: str, open_requests=None, status: int = 200) -> FakeApi:
        server = FakeApi(api, open_requests, status)
        servers.append(server)
        monkeypatch.setattr(tool.Bitbucket, "API", f"{server.url}/2.0")
        return server

    monkeypatch.setattr(
        tool,
        "check_update",
        lambda: {"update_available": True, "current_version": "0.3.0", "latest_version": "9.9.9"},
    )
    monkeypatch.setattr(tool.template_update, "recorded", lambda: ("src", "v0.3.0", {}))
    monkeypatch.setattr(tool.template_update, "target_ref", lambda *args: REF)
    monkeypatch.setattr(tool, "update", lambda ref: (["Makefile", "src/app.py.rej"], []))
    monkeypatch.setattr(tool, "commit", lambda message: done.append(("commit", message)))
    monkeypatch.setattr(tool, "push", lambda host: done.append(("push", host.name)))
    start.done = done
    yield start
    for server in servers:
        server.server.shutdown()


def main(tool, api: str, url: str = "http://127.0.0.1:9", **extra) -> int:
    environ = {**ENVIRONMENTS[api](url), "TEMPLATE_UPDATE_TOKEN": TOKEN, **extra}
    return tool.main(["--api", api], environ)


APIS = sorted(ENVIRONMENTS)


def test_every_api_of_the_plan_has_an_adapter(tool) -> None:
    named = {vendor["update_request"] for vendor in PLAN["vendors"].values()}
    assert named == {*tool.HOSTS, "none"}
    assert named - {"none"} == set(ENVIRONMENTS)


@pytest.mark.parametrize("api", APIS)
def test_opens_one_request_that_lists_the_conflicts(tool, fake, api: str, capsys) -> None:
    server = fake(api)

    assert main(tool, api, server.url) == 0

    assert server.methods() == ["GET", "POST"]
    body = server.written()
    text = body.get("body") or body.get("description")
    assert body["title"] == f"Update from the template to {REF}"
    assert "- `Makefile`\n- `src/app.py.rej`" in text and "0.3.0 to v9.9.9" in text
    assert fake.done == [("commit", body["title"]), ("push", tool.HOSTS[api].name)]
    out = capsys.readouterr().out
    assert "opened https://" in out and "  Makefile\n" in out and TOKEN not in out
    headers = server.calls[0][3]
    if api == "gitlab":
        assert headers["private-token"] == TOKEN
    else:
        assert headers["authorization"] == f"Bearer {TOKEN}"


def test_each_api_gets_the_branch_and_base_its_own_way(tool, fake) -> None:
    """The requests as each API documents them: the branch template-update/latest into main."""
    seen = {}
    for api in APIS:
        server = fake(api)
        main(tool, api, server.url)
        seen[api] = server.calls
    github, gitlab, bitbucket, azure = (seen[api] for api in ENVIRONMENTS)
    assert github[0][1] == "/repos/acme/churn-model/pulls"
    assert github[0][2]["head"] == ["acme:template-update/latest"]
    assert github[0][2]["state"] == ["open"] and github[0][2]["base"] == ["main"]
    assert github[1][4]["head"] == "template-update/latest" and github[1][4]["base"] == "main"
    assert gitlab[0][1] == "/api/v4/projects/42/merge_requests"
    assert gitlab[0][2]["source_branch"] == ["template-update/latest"]
    assert gitlab[1][4]["target_branch"] == "main" and gitlab[1][4]["remove_source_branch"]
    assert bitbucket[0][1] == "/2.0/repositories/acme/churn-model/pullrequests"
    assert 'source.branch.name="template-update/latest"' in bitbucket[0][2]["q"][0]
    assert bitbucket[1][4]["source"] == {"branch": {"name": "template-update/latest"}}
    assert azure[0][1] == (
        "/acme/ML%20Models/_apis/git/repositories/3f2a9c1e-8d4b-4e6f-a1b2-c3d4e5f60718/pullrequests"
    )
    assert azure[0][2]["searchCriteria.sourceRefName"] == ["refs/heads/template-update/latest"]
    assert azure[1][2]["api-version"] == ["7.1"]
    assert azure[1][4]["targetRefName"] == "refs/heads/main"


@pytest.mark.parametrize("api", APIS)
def test_refreshes_the_open_request_instead_of_opening_a_second(tool, fake, api: str) -> None:
    server = fake(api, [as_host(api, 7, "Update from the template to v9.0.0")])

    assert main(tool, api, server.url) == 0

    assert server.methods() == ["GET", "PATCH" if api in ("github", "azure_devops") else "PUT"]
    assert server.calls[1][1].split("/")[-1] == "7"
    assert server.written()["title"] == f"Update from the template to {REF}"
    assert "`Makefile`" in str(server.written())
    assert [step for step, _ in fake.done] == ["commit", "push"]


@pytest.mark.parametrize("api", APIS)
def test_a_request_that_proposes_the_latest_release_is_left_alone(
    tool, fake, api: str, capsys
) -> None:
    """A reviewer's conflict resolutions pushed to the branch stay: no rebuild, no push."""
    server = fake(api, [as_host(api, 7, f"Update from the template to {REF}")])

    assert main(tool, api, server.url) == 0

    assert server.methods() == ["GET"] and fake.done == []
    assert f"already proposes {REF}" in capsys.readouterr().out


@pytest.mark.parametrize("api", APIS)
def test_an_api_error_fails_with_a_clear_message_and_no_token(tool, fake, api: str) -> None:
    server = fake(api, status=403)

    with pytest.raises(SystemExit) as failed:
        main(tool, api, server.url)

    message = str(failed.value.code)
    assert message.startswith(f"template-update: {tool.HOSTS[api].name}: GET ")
    assert "answered 403" in message and "Resource not accessible by token" in message
    assert TOKEN not in message and fake.done == []


def test_an_unexpected_answer_fails_with_a_clear_message(tool, fake) -> None:
    class Odd(JsonHandler):
        def do_GET(self) -> None:
            self.answer(200, [{"id": 1}])

    server, url = serve(Odd)
    try:
        with pytest.raises(SystemExit, match="GitHub answered a document without the expected"):
            main(tool, "github", url)
    finally:
        server.shutdown()


def test_a_token_that_could_split_a_header_is_refused(tool, fake) -> None:
    environ = {**ENVIRONMENTS["github"]("https://api.github.com")}
    with pytest.raises(SystemExit) as refused:
        tool.main(["--api", "github"], {**environ, "TEMPLATE_UPDATE_TOKEN": "abc\r\nX-Evil: 1"})
    assert "one line of printable characters" in str(refused.value.code)
    assert "X-Evil" not in str(refused.value.code)


def test_a_redirect_is_not_followed_with_the_token(tool) -> None:
    class Redirect(JsonHandler):
        def do_GET(self) -> None:
            self.answer(302, {}, {"Location": "http://127.0.0.2:9/steal"})

    server, url = serve(Redirect)
    try:
        host = tool.GitHub(TOKEN, ENVIRONMENTS["github"](url))
        with pytest.raises(tool.ApiError, match="answered 302"):
            host.find()
    finally:
        server.shutdown()


@pytest.mark.parametrize("api", [*APIS, "none"])
def test_nothing_to_update_calls_no_api(tool, fake, monkeypatch, api: str, capsys) -> None:
    server = fake("github")
    monkeypatch.setattr(
        tool,
        "check_update",
        lambda: {"update_available": False, "current_version": "0.3.0", "latest_version": "0.3.0"},
    )

    assert tool.main(["--api", api], {"TEMPLATE_UPDATE_TOKEN": TOKEN}) == 0

    assert server.calls == [] and fake.done == []
    assert "nothing to update, 0.3.0 is the template's latest release" in capsys.readouterr().out


def test_without_an_api_an_update_fails_with_the_command_to_run(tool, fake, capsys) -> None:
    assert tool.main(["--api", "none"], {}) == 1

    out = capsys.readouterr().out
    assert "the template's 9.9.9 is out; this project is at 0.3.0" in out
    assert "Run `make template-update`" in out and fake.done == []


def test_without_a_token_it_says_what_to_set(tool, fake) -> None:
    with pytest.raises(SystemExit, match="TEMPLATE_UPDATE_TOKEN is not set"):
        tool.main(["--api", "github"], ENVIRONMENTS["github"]("https://api.github.com"))


@pytest.mark.parametrize(
    ("api", "name", "value", "says"),
    [
        ("github", "GITHUB_API_URL", "http://api.example.com", "https:// URL"),
        ("github", "GITHUB_REPOSITORY", "acme", "owner/name"),
        ("github", "GITHUB_REF_NAME", "-main", "a branch name"),
        ("gitlab", "CI_PROJECT_ID", "42; rm -rf /", "a number"),
        ("bitbucket", "BITBUCKET_REPO_FULL_NAME", "../acme/x", "workspace/slug"),
        ("azure_devops", "BUILD_SOURCEBRANCH", "refs/tags/v1", "refs/heads/<branch>"),
        ("azure_devops", "BUILD_REPOSITORY_PROVIDER", "GitHub", "need Azure Repos"),
    ],
)
def test_bad_settings_are_refused_by_name(tool, api, name, value, says) -> None:
    environ = {**ENVIRONMENTS[api]("https://host.example.com"), name: value}
    with pytest.raises(SystemExit) as refused:
        tool.HOSTS[api](TOKEN, environ)
    assert says in str(refused.value.code)


def test_a_long_list_is_cut_to_the_smallest_hosts_limit(tool) -> None:
    names = [f"src/module_{n:04d}.py" for n in range(400)]

    text = tool.description("0.3.0", REF, names, ["compose.yaml"])

    assert len(text) <= tool.MAX_DESCRIPTION
    assert (
        "- `src/module_0000.py`" in text and "more: `make template-update` lists them all" in text
    )


def test_the_push_url_carries_no_credentials(tool, tmp_path, monkeypatch) -> None:
    run(["git", "init", "-q"], tmp_path)
    run(
        ["git", "remote", "add", "origin", "http://gitlab-ci-token:job@gitlab.example.com/a/b.git"],
        tmp_path,
    )
    monkeypatch.chdir(tmp_path)

    assert tool.push_url() == "https://gitlab.example.com/a/b.git"


# ---- end to end: the job's command in a project one release behind, a fake GitHub.


def test_the_job_pushes_the_branch_and_opens_the_pull_request(tmp_path: Path) -> None:
    template = tagged_clone(tmp_path / "copier-mlops", next_release())
    project = project_with_its_own_lint(template, tmp_path / "project")
    origin = tmp_path / "origin.git"
    run(["git", "init", "-q", "--bare", str(origin)], tmp_path)
    run(["git", "remote", "add", "origin", str(origin)], project)
    run(["git", "push", "-q", "origin", "main"], project)
    server = FakeApi("github")
    environ = {**ENVIRONMENTS["github"](server.url), "TEMPLATE_UPDATE_TOKEN": TOKEN}
    try:
        current = run(["make", "template-update-request"], project, **environ)
        assert "nothing to update" in current.stdout and server.calls == []

        # The template's next release rewords the lint target, which the project changed.
        release_a_change(template, "v99.0.0")

        done = run(["make", "template-update-request"], project, **environ)
    finally:
        server.server.shutdown()

    assert "opened https://gh/pull/8 to propose v99.0.0" in done.stdout
    assert TOKEN not in done.stdout + done.stderr
    assert server.methods() == ["GET", "POST"]
    body = server.written()
    assert body["head"] == "template-update/latest" and body["base"] == "main"
    assert "**Resolve the conflicts in these files before merging**" in body["body"]
    assert "- `Makefile`" in body["body"]
    pushed = git(origin, "show", "template-update/latest:.copier-answers.yml")
    assert yaml.safe_load(pushed)["_commit"] == "v99.0.0"
    pushed_makefile = git(origin, "show", "template-update/latest:Makefile")
    assert "<<<<<<< " in pushed_makefile and "ruff check and format" in pushed_makefile
    subject = git(origin, "log", "-1", "--format=%s", "template-update/latest").strip()
    assert subject == body["title"]
    assert git(origin, "rev-parse", "main") == git(project, "rev-parse", "main"), "main untouched"


# ---- the Renovate alternative, as the template's README documents it.


def renovate_config() -> str:
    readme = (TEMPLATE / "README.md").read_text()
    return re.search(r"<!-- renovate-config -->\n```json\n(.*?)```", readme, re.DOTALL).group(1)


def renovate_errors(config: str, tmp_path: Path) -> str:
    path = tmp_path / "renovate.json"
    path.write_text(config)
    checked = run(
        [tool_path("check-jsonschema"), "--builtin-schema", "vendor.renovate", str(path)],
        tmp_path,
        check=False,
    )
    return "" if checked.returncode == 0 else checked.stdout + checked.stderr


def test_the_readme_renovate_config_passes_renovates_schema(tmp_path: Path) -> None:
    config = renovate_config()

    assert renovate_errors(config, tmp_path) == ""
    settings = json.loads(config)
    assert settings["copier"]["enabled"] is True
    assert settings["packageRules"][0]["matchManagers"] == ["copier"]
    # Hosted Renovate runs no scripts, so copier runs without --trust: nothing may ask for it.
    assert "allowScripts" not in config and "ignoreScripts" not in config
    broken = config.replace('"enabled": true', '"enabled": "yes"')
    assert "enabled" in renovate_errors(broken, tmp_path), "the schema does check"
