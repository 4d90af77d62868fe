"""Least privilege from pull request to production, read from what renders: for every
combination that has a cloud, the Terraform's CI identities are parsed with python-hcl2,
each identity's trust is evaluated against the tokens that a pull request (or a push to
any other branch) can present, and what the identity is granted is classified as read or
write. No identity that such a token reaches may write to the DVC remote, the registry or
any service; a permission the test does not know fails it instead of passing.

The tokens are written from the vendors' documentation (their sub claims and the claims
the trust conditions read), each vendor's in its own test file (tests/test_ci_<vendor>.py:
oidc_pull_request_tokens, oidc_release_tokens, oidc_production_token); the trust
conditions themselves are the rendered ones,
with the module's variable defaults (and test values for the inputs that have none)."""

import fnmatch
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import (
    COMBINATIONS,
    KEY_SCOPES,
    PLAN,
    assert_keys_are_split,
    clouds,
    combo_id,
    made_identities,
)
from terraform_hcl import Module

WITH_TERRAFORM = [answers for answers in COMBINATIONS if clouds(answers)]

# --- What each permission does -------------------------------------------------------------
# AWS actions, Google Cloud roles and Azure roles that only read. Everything that writes,
# deletes, deploys, invokes a service (its inputs feed the drift check) or hands a role on
# is in the WRITE sets. A name in neither fails the test: classify it here first.
AWS_READ = {
    "s3:GetObject",
    "s3:ListBucket",
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
    # The ServiceUrl tag: which URL (HTTPS when there is a certificate) to smoke-test.
    "elasticloadbalancing:DescribeTags",
    "sagemaker:DescribeEndpoint",
    "sagemaker:DescribeEndpointConfig",
    "sagemaker:DescribeModel",
}
AWS_WRITE = {
    "s3:PutObject",
    "s3:DeleteObject",
    "ecr:PutImage",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecs:RegisterTaskDefinition",
    "ecs:UpdateService",
    "iam:PassRole",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:CreateModel",
    "sagemaker:InvokeEndpoint",
    "sagemaker:UpdateEndpoint",
    "sts:AssumeRole",
}
GCP_READ = {
    "roles/storage.objectViewer",
    "roles/artifactregistry.reader",
    "roles/run.viewer",
}
GCP_WRITE = {
    "roles/storage.objectAdmin",
    "roles/storage.objectCreator",
    "roles/storage.objectUser",
    "roles/storage.admin",
    "roles/artifactregistry.writer",
    "roles/artifactregistry.repoAdmin",
    "roles/artifactregistry.admin",
    "roles/run.developer",
    "roles/run.admin",
    "roles/run.invoker",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    # Mints identity tokens as the account (the deploy's smoke test of a private Cloud Run
    # service): whoever holds it may call what the account may call.
    "roles/iam.serviceAccountOpenIdTokenCreator",
    "roles/editor",
    "roles/owner",
}
AZURE_READ = {"Storage Blob Data Reader", "AcrPull", "Reader"}
AZURE_WRITE = {
    "Storage Blob Data Contributor",
    "Storage Blob Data Owner",
    "AcrPush",
    "Contributor",
    "Owner",
    "User Access Administrator",
}


def classify(permission: str, read: set[str], write: set[str]) -> str:
    if "*" in permission or permission in write:
        return "write"
    if permission in read:
        return "read"
    raise AssertionError(
        f"unknown permission {permission!r}: classify it as read or write in {__file__}"
    )


def azure_action_kind(action: str) -> str:
    """An action of a custom Azure role: .../read reads, anything else changes something."""
    return "read" if action.endswith("/read") else "write"


# --- The tokens a pull request can present, per vendor ---------------------------------------
def vendor_tests(vendor: str):
    """The vendor's own test file, tests/test_ci_<vendor>.py, which models the OIDC tokens
    its runs present: a new vendor brings its tokens with its tests."""
    return importlib.import_module(f"test_ci_{vendor}")


def pull_request_tokens(vendor: str, values: dict, project: Path) -> list[dict]:
    """Claims of the tokens that code from a pull request (or a push to another branch) can
    get: its sub, and the claims the Google conditions read. None without OIDC (the keys are
    where the README says)."""
    tokens = getattr(vendor_tests(vendor), "oidc_pull_request_tokens", None)
    return tokens(values, project) if tokens else []


# --- A small CEL, for Google's attribute conditions and mappings --------------------------------
def cel(expression: str, claims: dict):
    """Evaluates the CEL the trust table uses (==, !=, &&, ||, in, startsWith, endsWith,
    assertion.x and assertion['x'], a ternary around the whole); anything else is a Python
    syntax error or a missing claim, and raises."""
    python = expression
    ternary = re.fullmatch(r"\((.*)\) \? '(\w+)' : '(\w+)'", python)
    if ternary:
        return ternary[2] if cel(ternary[1], claims) else ternary[3]
    python = re.sub(r"assertion\.(\w+)", r"assertion['\1']", python)
    python = python.replace("&&", " and ").replace("||", " or ")
    python = python.replace(".startsWith(", ".startswith(").replace(".endsWith(", ".endswith(")
    python = re.sub(r"(assertion\['[\w.-]+'\])\.matches\(", r"matches(\1, ", python)
    functions = {"matches": lambda text, pattern: re.search(pattern, text) is not None}
    return eval(python, {"__builtins__": {}}, {"assertion": claims, **functions})  # noqa: S307 - our own expression


# --- The identities of one module -------------------------------------------------------------
@dataclass
class Identity:
    address: str
    federated: bool
    admits: object = None  # token claims -> bool
    grants: set = field(default_factory=set)  # (permission, kind, granted by)
    # The resources each permission is granted on, as the Terraform writes them.
    scopes: set = field(default_factory=set)  # (permission, resources)


def reference(value: str, prefix: str) -> str | None:
    """The name in "${<prefix>.<name>...}" (a Terraform reference), or None."""
    match = re.search(re.escape(prefix) + r"\.(\w+)", str(value))
    return match[1] if match else None


def substitute(template: str, values: dict, each: str | None = None) -> str:
    text = template.replace("${each.value}", each) if each is not None else template

    def one(match):
        name = match[1]
        assert name in values, f"{name} has no default: add a test value to TERRAFORM_INPUTS"
        return str(values[name])

    return re.sub(r"\$\{var\.(\w+)\}", one, text)


def variable_values(module: Module, vendor: str) -> dict:
    """The module's variable defaults, and test values for the vendor's inputs that have
    none (the user gives them at `terraform apply`): TERRAFORM_INPUTS of its test file."""
    values = dict(getattr(vendor_tests(vendor), "TERRAFORM_INPUTS", {}))
    for name, body in module.named("variable").items():
        if "default" in body and body["default"] is not None:
            values[name] = body["default"]
    return values


def module_locals(module: Module) -> dict:
    merged: dict = {}
    for block in module.blocks.get("locals", []):
        merged.update(block)
    return merged


def aws_identities(module: Module, values: dict) -> dict[str, Identity]:
    data = module.typed("data")
    identities: dict[str, Identity] = {}
    for (kind, name), body in module.resources().items():
        if kind != "aws_iam_role":
            continue
        trust = data[
            (
                "aws_iam_policy_document",
                reference(body["assume_role_policy"], "data.aws_iam_policy_document"),
            )
        ]
        for statement in trust["statement"]:
            principal = statement["principals"][0]
            if principal["type"] == "Federated":
                conditions = [
                    (c, claim)
                    for c in statement.get("condition", [])
                    for claim in ("sub", "aud")
                    if c["variable"].endswith(f":{claim}")
                ]
                assert len(conditions) == len(statement["condition"]), statement["condition"]
                assert all(c["test"] in ("StringLike", "StringEquals") for c, _ in conditions)

                def admits(token, conditions=conditions):
                    return all(
                        any(
                            fnmatch.fnmatchcase(token[claim], substitute(v, values))
                            if c["test"] == "StringLike"
                            else token[claim] == substitute(v, values)
                            for v in c["values"]
                        )
                        for c, claim in conditions
                    )

                identities[name] = Identity(f"aws_iam_role.{name}", True, admits)
            elif principal["type"] == "AWS" and "aws_iam_user" in str(principal["identifiers"]):
                identities[name] = Identity(f"aws_iam_role.{name}", False)
    for (kind, name), body in module.resources().items():
        if (
            kind != "aws_iam_role_policy"
            or reference(body["role"], "aws_iam_role") not in identities
        ):
            continue
        role = reference(body["role"], "aws_iam_role")
        policy = data[
            ("aws_iam_policy_document", reference(body["policy"], "data.aws_iam_policy_document"))
        ]
        for statement in policy["statement"]:
            if statement.get("effect", "Allow") != "Allow":
                continue
            for action in statement["actions"]:
                kind_ = classify(action, AWS_READ, AWS_WRITE)
                identities[role].grants.add((action, kind_, f"aws_iam_role_policy.{name}"))
                identities[role].scopes.add((action, str(statement["resources"])))
    assert not [
        (kind, name)
        for (kind, name), body in module.resources().items()
        if kind in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment")
        and reference(body.get("role", body.get("roles")), "aws_iam_role") in identities
    ], "a managed policy attached to a CI role: classify its actions here first"
    return identities


def gcp_identities(module: Module, values: dict) -> dict[str, Identity]:
    resources = module.resources()
    local = module_locals(module)
    providers = [
        body
        for (kind, _), body in resources.items()
        if kind == "google_iam_workload_identity_pool_provider"
    ]
    identities = {
        name: Identity(f"google_service_account.{name}", bool(providers))
        for (kind, name) in resources
        if kind == "google_service_account" and name.startswith("ci")
    }
    for (kind, _), body in resources.items():
        if (
            kind == "google_service_account_iam_member"
            and body["role"] == "roles/iam.workloadIdentityUser"
        ):
            account = reference(body["service_account_id"], "google_service_account")
            (provider,) = providers
            member = body["member"]
            for local_name, value in local.items():
                member = member.replace(f"${{local.{local_name}}}", str(value))
            pool = "principalSet://iam.googleapis.com/${google_iam_workload_identity_pool.ci.name}/"
            assert member.startswith(pool), member
            selector = substitute(member[len(pool) :], values)

            def admits(token, provider=provider, selector=selector):
                condition = substitute(provider["attribute_condition"], values)
                if not cel(condition, token):
                    return False
                if selector == "*":
                    return True
                key, _, wanted = selector.partition("/")
                mapping = {
                    k: substitute(v, values) for k, v in provider["attribute_mapping"].items()
                }
                if key == "subject":
                    return cel(mapping["google.subject"], token) == wanted
                return cel(mapping[key], token) == wanted

            identities[account].admits = admits
    for (kind, name), body in resources.items():
        if kind.endswith("_iam_member") and "member" in body:
            account = reference(body["member"], "google_service_account")
            if account in identities and body["role"] != "roles/iam.workloadIdentityUser":
                identities[account].grants.add(
                    (body["role"], classify(body["role"], GCP_READ, GCP_WRITE), f"{kind}.{name}")
                )
                identities[account].scopes.add((body["role"], str(body)))
    assert not [
        name
        for (kind, name), body in resources.items()
        if kind.endswith(("_iam_binding", "_iam_policy"))
    ], "an IAM binding or policy: read its members here first"
    return identities


def azure_identities(module: Module, values: dict) -> dict[str, Identity]:
    resources = module.resources()
    local = module_locals(module)
    identities: dict[str, Identity] = {}
    for kind, name in resources:
        if kind == "azurerm_user_assigned_identity" and name.startswith("ci"):
            identities[name] = Identity(f"azurerm_user_assigned_identity.{name}", True, admits=None)
        if kind == "azuread_service_principal":
            identities[name] = Identity(f"azuread_service_principal.{name}", False)
    # (subject, audience) of every federated credential, by identity.
    subjects: dict[str, set[tuple[str, str]]] = {name: set() for name in identities}
    for (kind, _), body in resources.items():
        if kind != "azurerm_federated_identity_credential":
            continue
        owner = reference(body["user_assigned_identity_id"], "azurerm_user_assigned_identity")
        audience = body["audience"]
        if reference(audience, "local"):
            audience = local[reference(audience, "local")]
        (audience,) = audience  # Entra ID takes one audience per credential
        audience = substitute(audience, values)
        for_each = body.get("for_each")
        if for_each is None:
            subjects[owner].add((substitute(body["subject"], values), audience))
        elif reference(for_each, "local"):
            subjects[owner] |= {
                (substitute(s, values), audience)
                for s in local[reference(for_each, "local")].values()
            }
        else:
            for branch in values[reference(for_each, "var")]:
                subjects[owner].add((substitute(body["subject"], values, each=branch), audience))
    for name, identity in identities.items():
        if identity.federated:
            identity.admits = lambda token, allowed=frozenset(subjects[name]): (
                (token["sub"], token["aud"]) in allowed
            )
    principals = {
        local_name: reference(value, "azurerm_user_assigned_identity")
        or reference(value, "azuread_service_principal")
        for local_name, value in local.items()
        if local_name.endswith("principal_id")
    }
    definitions = {
        name: body for (kind, name), body in resources.items() if kind == "azurerm_role_definition"
    }
    for (kind, name), body in resources.items():
        if kind != "azurerm_role_assignment":
            continue
        owner = principals.get(reference(body["principal_id"], "local"))
        if owner not in identities:
            continue
        if "role_definition_name" in body:
            role = body["role_definition_name"]
            identities[owner].grants.add(
                (role, classify(role, AZURE_READ, AZURE_WRITE), f"{kind}.{name}")
            )
            identities[owner].scopes.add((role, str(body["scope"])))
        else:
            definition = definitions[
                reference(body["role_definition_id"], "azurerm_role_definition")
            ]
            for permissions in definition["permissions"]:
                for action in permissions["actions"]:
                    identities[owner].grants.add(
                        (action, azure_action_kind(action), f"{kind}.{name}")
                    )
                    identities[owner].scopes.add((action, str(body["scope"])))
    return identities


READERS = {"aws": aws_identities, "gcp": gcp_identities, "azure": azure_identities}


@pytest.fixture(scope="module", params=WITH_TERRAFORM, ids=combo_id)
def case(request, render):
    answers = request.param
    (cloud,) = clouds(answers)
    project = render(answers)
    module = Module(project / "infra" / cloud)
    values = variable_values(module, answers["ci_provider"])
    return answers, project, READERS[cloud](module, values), values


def test_no_identity_a_pull_request_reaches_can_write(case) -> None:
    answers, project, identities, values = case
    (cloud,) = clouds(answers)
    vendor = answers["ci_provider"]
    # A pull request's job may ask for any audience, the production deploy's too.
    tokens = [
        token
        for production in (False, True)
        for token in with_audience(
            pull_request_tokens(vendor, values, project), vendor, cloud, values, production
        )
    ]
    findings = []
    for identity in identities.values():
        if not identity.federated or identity.admits is None:
            continue
        reached_by = [token["sub"] for token in tokens if identity.admits(token)]
        writes = sorted({(p, by) for p, kind, by in identity.grants if kind == "write"})
        if reached_by and writes:
            findings.append(f"{identity.address}, reached by {reached_by[0]}, may {writes}")
    assert not findings, "\n".join(findings)


def test_every_identity_is_classified_and_ci_has_a_release_identity(case) -> None:
    """The release identity holds what shipping needs; classifying its grants fails loudly on
    a permission nobody classified (the fixture raised already)."""
    answers, project, identities, values = case
    assert "ci" in identities, "the release identity keeps the address aws_iam_role.ci / ..."
    writes = {p for p, kind, _ in identities["ci"].grants if kind == "write"}
    assert writes, "the release identity writes nothing: it cannot ship"


def test_pull_request_identity_reads_the_dvc_remote_only(case) -> None:
    answers, project, identities, values = case
    (cloud,) = clouds(answers)
    # Where the DVC remote is on the cloud, whether the vendor signs in to it through OIDC
    # or with the pull-request identity's own key.
    if PLAN["stores"][answers["data_store"]]["cloud"] != cloud:
        assert "ci_pr" not in identities, "a pull-request identity that no pipeline uses"
        return
    assert "ci_pr" in identities
    grants = identities["ci_pr"].grants
    assert grants and all(kind == "read" for _, kind, _ in grants), grants
    assert {by.split(".")[1] for _, _, by in grants} == {"ci_pr_dvc"}, grants


# What deploys a service.
DEPLOYS = {
    "ecs:UpdateService",
    "sagemaker:UpdateEndpoint",
    "roles/run.developer",
    "Microsoft.App/containerApps/write",
}


def on_production(resources: str) -> bool:
    """Whether resources, as the Terraform writes them, include the production service:
    those that name environments ("staging", "production") include it when they name it;
    any other (every environment through local.environments, the resource group, "*")
    includes it."""
    named = set(re.findall(r'\[\\?"(staging|production)\\?"\]', resources))
    return "production" in named if named else True


def production_deploys(identity: Identity) -> list[str]:
    return sorted(
        p for p, resources in identity.scopes if p in DEPLOYS and on_production(resources)
    )


def audience(vendor: str, cloud: str, values: dict, production: bool = False) -> str:
    """The aud of the tokens a vendor's jobs present to a cloud: the vendor's (trust table),
    or the one only its production job asks for, where it has one."""
    trust = PLAN["vendors"][vendor]["trust"]
    if cloud == "azure":
        default = "api://AzureADTokenExchange"
        value = (trust["azure"].get("production_audience") if production else None) or default
    elif cloud == "aws":
        value = trust["aws"].get("production_audience") if production else None
        value = value or trust["aws"]["audience"]
    else:
        return ""  # Google's provider checks its allowed audiences, the same for every job
    return str(values[value["var"]]) if isinstance(value, dict) else substitute(value, values)


def with_audience(tokens: list[dict], vendor: str, cloud: str, values: dict, production=False):
    if not PLAN["vendors"][vendor]["oidc"][cloud]:
        return tokens
    return [{"aud": audience(vendor, cloud, values, production), **token} for token in tokens]


def release_tokens_outside_production(vendor: str, values: dict) -> list[dict]:
    """Tokens of trusted runs that are not the production environment's deploy: a push to
    main, a staging deploy, the scheduled monitor."""
    tokens = getattr(vendor_tests(vendor), "oidc_release_tokens", None)
    return tokens(values) if tokens else []


def production_token(vendor: str, values: dict) -> dict:
    """The token of the production environment's deploy job."""
    token = getattr(vendor_tests(vendor), "oidc_production_token", None)
    assert token, f"{vendor} has OIDC to the service's cloud: model its production token"
    return token(values, release_tokens_outside_production(vendor, values)[0])


DEPLOYED_BY_OIDC = [
    answers
    for answers in WITH_TERRAFORM
    if PLAN["targets"][answers["deploy_target"]]["cloud"]
    and PLAN["vendors"][answers["ci_provider"]]["oidc"][
        PLAN["targets"][answers["deploy_target"]]["cloud"]
    ]
]


@pytest.fixture(params=DEPLOYED_BY_OIDC, ids=combo_id)
def deployed(request, render):
    answers = request.param
    (cloud,) = clouds(answers)
    module = Module(render(answers) / "infra" / cloud)
    values = variable_values(module, answers["ci_provider"])
    return answers, cloud, READERS[cloud](module, values), values


def test_production_is_deployed_only_from_the_production_environment(deployed) -> None:
    """No identity that a trusted run outside the production environment reaches (main's
    pushes, the staging deploy, the scheduled monitor) may deploy the production service;
    the production identity admits the production deploy's token and deploys production
    only (staging stays with the release identity)."""
    answers, cloud, identities, values = deployed
    vendor = answers["ci_provider"]
    tokens = with_audience(release_tokens_outside_production(vendor, values), vendor, cloud, values)
    assert tokens
    findings = [
        f"{identity.address}, reached by {token['sub']}, may {production_deploys(identity)}"
        for identity in identities.values()
        if identity.federated and identity.admits
        for token in tokens
        if identity.admits(token) and production_deploys(identity)
    ]
    assert not findings, "\n".join(findings)

    production = identities["ci_production"]
    (token,) = with_audience([production_token(vendor, values)], vendor, cloud, values, True)
    assert production.admits(token), f"{production.address} refuses {token}"
    assert production_deploys(production), "the production identity cannot deploy production"
    assert {p for p, r in production.scopes if p in DEPLOYS and not on_production(r)} == set()
    staging = {p for p, r in identities["ci"].scopes if p in DEPLOYS and not on_production(r)}
    assert staging, "the release identity no longer deploys staging"


# Where the token's claims that a cloud can check name no environment (GitLab's and
# CircleCI's, to AWS and Entra ID), the production identity is bound to main's pipeline (a
# protected branch: reviewed code) and to an audience kept in a CI variable that only the
# production environment's runs can read (reads_production_audience of the vendor's tests).


@pytest.mark.parametrize("answers", DEPLOYED_BY_OIDC, ids=combo_id)
def test_production_identity_requires_the_production_environment(answers, render) -> None:
    """A trusted job of main that is not the production deploy, asking for the token the
    production deploy asks for (its audience), does not reach the production identity."""
    (cloud,) = clouds(answers)
    module = Module(render(answers) / "infra" / cloud)
    values = variable_values(module, answers["ci_provider"])
    production = READERS[cloud](module, values)["ci_production"]
    vendor = answers["ci_provider"]
    tokens = release_tokens_outside_production(vendor, values)
    reads = getattr(vendor_tests(vendor), "reads_production_audience", None)
    if reads and PLAN["vendors"][vendor]["trust"][cloud].get("production_audience"):
        # Only the runs that can read the audience's variable can ask for a token of it.
        tokens = [token for token in tokens if reads(token, values)]
    tokens = with_audience(tokens, vendor, cloud, values, production=True)
    admitted = [token["sub"] for token in tokens if production.admits(token)]
    assert not admitted, f"{production.address} admits {admitted}"


# --- The keys of the vendors without OIDC to a cloud --------------------------------------------
# Each identity is reached with a key of its own, and the vendor's protected scopes (Azure
# Pipelines variable groups and secure files, CircleCI contexts, Bitbucket deployment
# variables, Jenkins credentials, Travis variables) decide which jobs are given which key.
# key_scopes(project, cloud) of tests/test_ci_<vendor>.py reads, from the rendered CI
# file, the identities whose key the jobs of each run scope are given.
KEY_BASED = [
    answers
    for answers in WITH_TERRAFORM
    if not all(PLAN["vendors"][answers["ci_provider"]]["oidc"][c] for c in clouds(answers))
]


@pytest.mark.parametrize("answers", KEY_BASED, ids=combo_id)
def test_each_key_goes_only_to_the_runs_of_its_scope(answers, render) -> None:
    """No identity whose key a pull request's jobs are given can write anything shared; the
    identities that deploy production are given to the production deploy only; the release
    runs hold the release identity, and the production deploy its own where it exists."""
    (cloud,) = clouds(answers)
    vendor = answers["ci_provider"]
    scopes_of = getattr(vendor_tests(vendor), "key_scopes", None)
    assert scopes_of, f"tests/test_ci_{vendor}.py has no key_scopes(project, cloud)"
    project = render(answers)
    module = Module(project / "infra" / cloud)
    identities = READERS[cloud](module, variable_values(module, vendor))
    scopes = scopes_of(project, cloud)
    assert set(scopes) == set(KEY_SCOPES), scopes
    # An identity the Terraform does not create has no key to give.
    given = {scope: names & set(identities) for scope, names in scopes.items()}

    writers = {
        name: sorted({(p, by) for p, kind, by in identities[name].grants if kind == "write"})
        for name in given["pull_request"]
    }
    assert not {n: w for n, w in writers.items() if w}, f"pull requests hold the key of {writers}"
    deployers = {name for name, identity in identities.items() if production_deploys(identity)}
    outside = (given["pull_request"] | given["release"]) & deployers
    assert not outside, f"{sorted(outside)} deploy production and are given outside its deploy"
    # Which key each scope holds, exactly (the pull-request one, the release one, the
    # production one where the Terraform makes it).
    assert_keys_are_split(scopes_of, project)


@pytest.mark.parametrize(
    "answers",
    [a for a in KEY_BASED if PLAN["stores"][a["data_store"]]["cloud"] in clouds(a)],
    ids=combo_id,
)
def test_key_based_vendors_have_all_three_identities(answers, render) -> None:
    """A key-based vendor's CI has the pull-request identity where the DVC remote is in the
    cloud and the production one where the service is, as an OIDC vendor's has."""
    (cloud,) = clouds(answers)
    expected = {"ci", "ci_pr"} | (
        {"ci_production"} if PLAN["targets"][answers["deploy_target"]]["cloud"] == cloud else set()
    )
    assert made_identities(render(answers), cloud) == expected
