"""`make template-update-request`: the scheduled template-update job of CI.

It asks `copier check-update` whether the template has a newer release. When it has none,
it says so and stops (exit 0, no API call). When it has one:

- where the CI vendor's git host has an API for pull requests (--api github, gitlab,
  bitbucket or azure_devops), it runs `make template-update`'s update
  (tools/template_update.py) on the branch `template-update/latest`, commits the result, conflict
  markers included, pushes the branch with TEMPLATE_UPDATE_TOKEN and opens ONE pull
  (merge) request from it whose description lists the files in conflict. An open request
  for an older release is refreshed (the branch rebuilt, the description rewritten); one
  that already proposes the latest release is left alone, with the commits pushed to it;
- elsewhere (--api none), it fails and prints the command to run.

The API clients use the standard library only, with bounded timeouts and no redirects
(a redirect would carry the token to another host); the token is never printed."""

from __future__ import annotations

import abc
import argparse
import base64
import http.client
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import NoReturn

import template_update

# The branch of the request: beside the template-update/<version> branches that
# `copier-mlops fleet update` makes (a branch named template-update would block them).
BRANCH = "template-update/latest"
TOKEN = "TEMPLATE_UPDATE_TOKEN"
TIMEOUT = 30
# The most of an answer read: the listings asked for hold a request or two.
MAX_ANSWER = 1 << 20
# Azure DevOps keeps 4000 characters of a description, the least of the four hosts.
MAX_DESCRIPTION = 4000
# A token is one line of printable ASCII: anything else could split the HTTP header.
TOKEN_TEXT = re.compile(r"^[\x21-\x7e]{1,4096}$")
BRANCH_NAME = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]{1,200}$")
REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
# Azure DevOps project names: up to 64 characters, none of these.
PROJECT_NAME = re.compile(r'^[^/\\?#%*:<>|"\x00-\x1f]{1,64}$')
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class ApiError(Exception):
    """The host's API refused or failed a call: the message says which and why."""


def fail(message: str) -> NoReturn:
    raise SystemExit(f"template-update: {message}")


def setting(environ: dict, name: str, pattern: re.Pattern, what: str) -> str:
    value = environ.get(name, "")
    if not pattern.fullmatch(value):
        fail(f"{name} is {value!r}: it must be {what}")
    return value


def api_url(value: str, name: str) -> str:
    """An API base URL: https, or http on this machine only (a test's fake API)."""
    parts = urllib.parse.urlsplit(value)
    local = parts.scheme == "http" and parts.hostname in LOOPBACK
    if not (parts.scheme == "https" or local) or not parts.hostname or parts.query:
        fail(f"{name} is {value!r}: it must be an https:// URL")
    return value.rstrip("/")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


def basic(user: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()


class Host(abc.ABC):
    """One git host's pull request API. Subclasses set `name` and `git_user` (None: the
    token is a bearer token for git too), and read their settings from the environment."""

    name = ""
    git_user: str | None = None

    def __init__(self, token: str) -> None:
        self.token = token

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def git_authorization(self) -> str:
        if self.git_user is None:
            return f"Bearer {self.token}"
        return basic(self.git_user, self.token)

    def call(self, method: str, url: str, body: dict | None = None) -> dict | list:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        for header, value in {
            **self.headers(),
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "template-update",
        }.items():
            request.add_header(header, value)
        where = f"{self.name}: {method} {url.split('?')[0]}"
        try:
            with OPENER.open(request, timeout=TIMEOUT) as response:
                payload = response.read(MAX_ANSWER)
        except urllib.error.HTTPError as error:
            detail = error.read(500).decode(errors="replace").replace(self.token, "***")
            raise ApiError(f"{where} answered {error.code} {error.reason}: {detail}") from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise ApiError(f"{where} failed: {reason}") from None
        try:
            return json.loads(payload) if payload.strip() else {}
        except ValueError:
            raise ApiError(f"{where} answered something that is not JSON") from None

    @abc.abstractmethod
    def find(self) -> dict | None:
        """The open request from BRANCH into the base branch: {id, title, url}, or None."""

    @abc.abstractmethod
    def open(self, title: str, description: str) -> dict:
        """Open the request from BRANCH into the base branch: {id, title, url}."""

    @abc.abstractmethod
    def refresh(self, request: dict, title: str, description: str) -> dict:
        """Rewrite the open request's title and description: {id, title, url}."""


class GitHub(Host):
    """GitHub's REST API; a fine-grained token or a GitHub App's installation token."""

    name = "GitHub"
    git_user = "x-access-token"

    def __init__(self, token: str, environ: dict) -> None:
        super().__init__(token)
        api = api_url(environ.get("GITHUB_API_URL", "https://api.github.com"), "GITHUB_API_URL")
        repository = setting(environ, "GITHUB_REPOSITORY", REPOSITORY, "owner/name")
        self.owner = repository.split("/")[0]
        self.base = setting(environ, "GITHUB_REF_NAME", BRANCH_NAME, "a branch name")
        self.pulls = f"{api}/repos/{repository}/pulls"

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "X-GitHub-Api-Version": "2022-11-28"}

    @staticmethod
    def request(pull: dict) -> dict:
        return {"id": pull["number"], "title": pull["title"], "url": pull["html_url"]}

    def find(self) -> dict | None:
        query = urllib.parse.urlencode(
            {"state": "open", "head": f"{self.owner}:{BRANCH}", "base": self.base}
        )
        pulls = self.call("GET", f"{self.pulls}?{query}")
        return self.request(pulls[0]) if pulls else None

    def open(self, title: str, description: str) -> dict:
        body = {"title": title, "body": description, "head": BRANCH, "base": self.base}
        return self.request(self.call("POST", self.pulls, body))

    def refresh(self, request: dict, title: str, description: str) -> dict:
        body = {"title": title, "body": description}
        return self.request(self.call("PATCH", f"{self.pulls}/{request['id']}", body))


class GitLab(Host):
    """GitLab's REST API v4; a project access token (role Developer, scope api)."""

    name = "GitLab"
    git_user = "oauth2"

    def __init__(self, token: str, environ: dict) -> None:
        super().__init__(token)
        api = api_url(environ.get("CI_API_V4_URL", ""), "CI_API_V4_URL")
        project = setting(environ, "CI_PROJECT_ID", re.compile(r"^[0-9]{1,20}$"), "a number")
        self.base = setting(environ, "CI_COMMIT_BRANCH", BRANCH_NAME, "a branch name")
        self.requests = f"{api}/projects/{project}/merge_requests"

    def headers(self) -> dict[str, str]:
        return {"PRIVATE-TOKEN": self.token}

    @staticmethod
    def request(merge_request: dict) -> dict:
        return {
            "id": merge_request["iid"],
            "title": merge_request["title"],
            "url": merge_request["web_url"],
        }

    def find(self) -> dict | None:
        query = urllib.parse.urlencode(
            {"state": "opened", "source_branch": BRANCH, "target_branch": self.base}
        )
        found = self.call("GET", f"{self.requests}?{query}")
        return self.request(found[0]) if found else None

    def open(self, title: str, description: str) -> dict:
        body = {
            "source_branch": BRANCH,
            "target_branch": self.base,
            "title": title,
            "description": description,
            "remove_source_branch": True,
        }
        return self.request(self.call("POST", self.requests, body))

    def refresh(self, request: dict, title: str, description: str) -> dict:
        body = {"title": title, "description": description}
        return self.request(self.call("PUT", f"{self.requests}/{request['id']}", body))


class Bitbucket(Host):
    """Bitbucket Cloud's REST API 2.0; a repository access token (repository:write,
    pullrequest:write)."""

    name = "Bitbucket"
    git_user = "x-token-auth"
    API = "https://api.bitbucket.org/2.0"

    def __init__(self, token: str, environ: dict) -> None:
        super().__init__(token)
        repository = setting(environ, "BITBUCKET_REPO_FULL_NAME", REPOSITORY, "workspace/slug")
        self.base = setting(environ, "BITBUCKET_BRANCH", BRANCH_NAME, "a branch name")
        api = api_url(self.API, "the Bitbucket API")
        self.pulls = f"{api}/repositories/{repository}/pullrequests"

    @staticmethod
    def request(pull: dict) -> dict:
        return {"id": pull["id"], "title": pull["title"], "url": pull["links"]["html"]["href"]}

    def find(self) -> dict | None:
        search = f'state="OPEN" AND source.branch.name="{BRANCH}"'
        search += f' AND destination.branch.name="{self.base}"'
        found = self.call("GET", f"{self.pulls}?{urllib.parse.urlencode({'q': search})}")
        values = found.get("values", [])
        return self.request(values[0]) if values else None

    def open(self, title: str, description: str) -> dict:
        body = {
            "title": title,
            "description": description,
            "source": {"branch": {"name": BRANCH}},
            "destination": {"branch": {"name": self.base}},
            "close_source_branch": True,
        }
        return self.request(self.call("POST", self.pulls, body))

    def refresh(self, request: dict, title: str, description: str) -> dict:
        body = {"title": title, "description": description}
        return self.request(self.call("PUT", f"{self.pulls}/{request['id']}", body))


class AzureDevOps(Host):
    """Azure DevOps' REST API 7.1 on an Azure Repos repository; the job's System.AccessToken."""

    name = "Azure DevOps"
    VERSION = "api-version=7.1"

    def __init__(self, token: str, environ: dict) -> None:
        super().__init__(token)
        provider = environ.get("BUILD_REPOSITORY_PROVIDER", "TfsGit")
        if provider != "TfsGit":
            fail(f"the repository is on {provider!r}: update requests need Azure Repos")
        collection = api_url(environ.get("SYSTEM_COLLECTIONURI", ""), "SYSTEM_COLLECTIONURI")
        project = setting(environ, "SYSTEM_TEAMPROJECT", PROJECT_NAME, "a project name")
        repository = setting(
            environ, "BUILD_REPOSITORY_ID", re.compile(r"^[0-9a-fA-F-]{36}$"), "a repository GUID"
        )
        source = environ.get("BUILD_SOURCEBRANCH", "")
        if not source.startswith("refs/heads/") or not BRANCH_NAME.fullmatch(source[11:]):
            fail(f"BUILD_SOURCEBRANCH is {source!r}: it must be refs/heads/<branch>")
        self.base = source[11:]
        self.pulls = (
            f"{collection}/{urllib.parse.quote(project)}/_apis/git/repositories/"
            f"{repository}/pullrequests"
        )

    @staticmethod
    def request(pull: dict) -> dict:
        return {"id": pull["pullRequestId"], "title": pull["title"], "url": pull["url"]}

    def find(self) -> dict | None:
        query = urllib.parse.urlencode(
            {
                "searchCriteria.sourceRefName": f"refs/heads/{BRANCH}",
                "searchCriteria.targetRefName": f"refs/heads/{self.base}",
                "searchCriteria.status": "active",
            }
        )
        found = self.call("GET", f"{self.pulls}?{query}&{self.VERSION}").get("value", [])
        return self.request(found[0]) if found else None

    def open(self, title: str, description: str) -> dict:
        body = {
            "sourceRefName": f"refs/heads/{BRANCH}",
            "targetRefName": f"refs/heads/{self.base}",
            "title": title,
            "description": description,
        }
        return self.request(self.call("POST", f"{self.pulls}?{self.VERSION}", body))

    def refresh(self, request: dict, title: str, description: str) -> dict:
        body = {"title": title, "description": description}
        url = f"{self.pulls}/{request['id']}?{self.VERSION}"
        return self.request(self.call("PATCH", url, body))


HOSTS = {"github": GitHub, "gitlab": GitLab, "bitbucket": Bitbucket, "azure_devops": AzureDevOps}


def check_update() -> dict:
    """`copier check-update`: {update_available, current_version, latest_version}."""
    checked = subprocess.run(
        [sys.executable, "-m", "copier", "check-update", "--output-format", "json"],
        capture_output=True,
        text=True,
    )
    if checked.returncode != 0:
        fail(f"copier check-update failed: {checked.stderr.strip() or checked.stdout.strip()}")
    return json.loads(checked.stdout)


def title(ref: str) -> str:
    return f"Update from the template to {ref}"


def description(current: str, ref: str, conflicts: list[str], deleted: list[str]) -> str:
    """What a reviewer needs to see first: the files to resolve, and the edited files the
    update deletes; cut to the smallest host's limit, saying how many files it left out."""
    names = len(conflicts) + len(deleted)
    for shown in range(names, -1, -1):
        text = compose(current, ref, conflicts[:shown], deleted[: max(0, shown - len(conflicts))])
        if shown < names:
            text += f"\n\n... and {names - shown} more: `make template-update` lists them all."
        if len(text) <= MAX_DESCRIPTION:
            return text
    return text[:MAX_DESCRIPTION]


def compose(current: str, ref: str, conflicts: list[str], deleted: list[str]) -> str:
    lines = [
        f"The scheduled template-update job updated this project from the template's "
        f"{current} to {ref}, as `make template-update` does.",
        "",
    ]
    if conflicts:
        lines += [
            "**Resolve the conflicts in these files before merging** (conflict markers, or "
            "a `.rej` file with the template's change):",
            *(f"- `{name}`" for name in conflicts),
        ]
    else:
        lines.append("No conflicts: review the changes, then merge.")
    if deleted:
        lines += [
            "",
            "**The update deletes these files, which were changed here:**",
            *(f"- `{name}`" for name in deleted),
        ]
    lines += [
        "",
        "The job refreshes this request when a newer release is out, and leaves it (and "
        "what you push to its branch) alone until then.",
    ]
    return "\n".join(lines)


def git(*args: str, env: dict | None = None) -> str:
    done = subprocess.run(["git", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        fail(f"git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def push_url() -> str:
    """origin's URL without the user or token a checkout may have put in it (GitLab's has
    its job's), over https unless it is on this machine: the token never travels in clear."""
    url = git("remote", "get-url", "origin")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return url
    parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        parts = parts._replace(scheme="https")
    return parts.geturl()


def push(host: Host) -> None:
    """Force-push HEAD to BRANCH with the token as an HTTP header, given to git through
    its environment: never on a command line, never in a URL, never printed."""
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: {host.git_authorization()}",
    }
    done = subprocess.run(
        ["git", "push", "--quiet", "--force", push_url(), f"HEAD:refs/heads/{BRANCH}"],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        fail(f"pushing {BRANCH} failed: {done.stderr.replace(host.token, '***').strip()}")


def commit(message: str) -> None:
    identity = {
        "GIT_AUTHOR_NAME": "template-update",
        "GIT_AUTHOR_EMAIL": "template-update@users.noreply.example.com",
    }
    env = {**identity, **os.environ}
    env.setdefault("GIT_COMMITTER_NAME", env["GIT_AUTHOR_NAME"])
    env.setdefault("GIT_COMMITTER_EMAIL", env["GIT_AUTHOR_EMAIL"])
    git("add", "--all")
    git("commit", "--quiet", "--no-verify", "--message", message, env=env)


def update(ref: str) -> tuple[list[str], list[str]]:
    """`make template-update`'s update on BRANCH: (files in conflict, edited files deleted)."""
    src, commit_, answers = template_update.recorded()
    deleted = template_update.edited_files_to_delete(src, commit_, ref, answers, {})
    git("switch", "--quiet", "-C", BRANCH)
    try:
        template_update.apply(ref, {}, trust=False)
    except template_update.copier.errors.UnsafeTemplateError:
        fail(
            f"the update to {ref} crosses a migration, which CI does not run: read the "
            "template's CHANGELOG, then run `make template-update TRUST=1` yourself."
        )
    except template_update.copier.errors.CopierError as error:
        fail(f"copier update failed: {error}")
    return template_update.conflicts(), deleted


def ask(host: Host, call, *args):
    """One call of the host's API; a refusal, or an answer without what the API documents,
    ends the job with a message that names the host."""
    try:
        return call(*args)
    except ApiError as error:
        fail(str(error))
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        fail(f"{host.name} answered a document without the expected {error}")


def main(argv: list[str] | None = None, environ: dict | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--api", required=True, choices=[*HOSTS, "none"])
    args = parser.parse_args(argv)
    environ = os.environ if environ is None else environ

    checked = check_update()
    current, latest = checked.get("current_version"), checked.get("latest_version")
    if not checked.get("update_available"):
        print(f"template-update: nothing to update, {current} is the template's latest release.")
        return 0
    if args.api == "none":
        print(f"template-update: the template's {latest} is out; this project is at {current}.")
        print("Run `make template-update` in a clone, resolve the conflicts it lists, commit")
        print("and open a pull request.")
        return 1
    token = environ.get(TOKEN, "")
    if not token:
        fail(
            f"the template's {latest} is out, but {TOKEN} is not set, so no pull request "
            "can be opened: set it (README, Template updates in CI), or run `make template-update`."
        )
    if not TOKEN_TEXT.fullmatch(token):
        fail(f"{TOKEN} must be one line of printable characters, without spaces")
    host = HOSTS[args.api](token, environ)
    src, commit_, _ = template_update.recorded()
    ref = template_update.target_ref(src, commit_, None)
    request = ask(host, host.find)
    if request and request["title"] == title(ref):
        print(f"template-update: {request['url']} already proposes {ref}; left as it is.")
        return 0
    conflicts, deleted = update(ref)
    commit(title(ref))
    push(host)
    text = description(current, ref, conflicts, deleted)
    if request:
        request = ask(host, host.refresh, request, title(ref), text)
        print(f"template-update: refreshed {request['url']} to propose {ref}.")
    else:
        request = ask(host, host.open, title(ref), text)
        print(f"template-update: opened {request['url']} to propose {ref}.")
    if conflicts:
        print("Files in conflict, listed in its description:")
        print("".join(f"  {name}\n" for name in conflicts), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
