"""data_store azure_blob: the DVC remote names the container and the account and never a
key, the project depends on dvc[azure], every CI vendor signs in to Azure the way the
README says (OIDC where the vendor and Azure allow it, the vendor's secret store
otherwise), and the README explains the one-time setup."""

import configparser
import re
from pathlib import Path

import pytest

from conftest import PLAN, offered

AZURE = {
    "data_store": "azure_blob",
    "azure_storage_account": "acmedvc",
    "azure_container": "mldata",
}
VENDORS = offered("ci_provider")
SECRET_WORDS = ("AccountKey", "account_key", "connection_string", "sas_token", "client_secret =")


def project(render, vendor: str) -> Path:
    return render({**AZURE, "ci_provider": vendor})


def test_dvc_remote_is_the_container_of_the_account_without_a_key(render):
    root = project(render, "github_actions")
    text = (root / ".dvc" / "config").read_text()
    config = configparser.ConfigParser()
    config.read_string(text)
    remote = config["'remote \"storage\"'"]
    assert remote["url"] == "azure://mldata/dvc"
    assert remote["account_name"] == "acmedvc"
    for word in SECRET_WORDS:
        assert word not in text
    assert '"dvc[azure]>=' in (root / "pyproject.toml").read_text()


@pytest.mark.parametrize("vendor", VENDORS)
def test_no_secret_is_rendered(render, vendor):
    root = project(render, vendor)
    for path in root.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            text = path.read_text(errors="ignore")
            assert "AccountKey=" not in text, path
            # The secret reaches CI from its secret store: at most a variable names it.
            assert not re.search(r'AZURE_CLIENT_SECRET="?[^"$\s]', text), path


def test_github_actions_logs_in_with_oidc_where_dvc_runs(render):
    workflows = project(render, "github_actions") / ".github" / "workflows"
    for name in ("ci.yml", "cd.yml", "retrain.yml"):
        text = (workflows / name).read_text()
        assert "uses: azure/login@f5d393ae46f8fde4be8b75f32e3fc50e654ad0ca  # v3.0.1" in text
        # Pull requests (ci.yml) sign in as the pull-request identity.
        client = "AZURE_PR_CLIENT_ID" if name == "ci.yml" else "AZURE_CLIENT_ID"
        assert f"client-id: ${{{{ vars.{client} }}}}" in text
        assert "id-token: write  # OIDC to Azure" in text
        assert "secrets.AZURE" not in text


def test_gitlab_writes_its_id_token_for_the_workload_identity_credential(render):
    text = (project(render, "gitlab_ci") / ".gitlab-ci.yml").read_text()
    assert "AZURE_ID_TOKEN:\n      aud: api://AzureADTokenExchange" in text
    assert "AZURE_FEDERATED_TOKEN_FILE: /tmp/azure-federated-token" in text
    assert 'printf \'%s\' "$AZURE_ID_TOKEN" > "$AZURE_FEDERATED_TOKEN_FILE"' in text


def test_azure_pipelines_reach_the_remote_through_the_service_connection(render):
    text = (project(render, "azure_pipelines") / "azure-pipelines.yml").read_text()
    # pipeline and push on pull requests, pipeline in package, and the scheduled monitor
    assert text.count("task: AzureCLI@2") == 4
    assert text.count("azureSubscription: ml-project-azure") == 4
    assert "inlineScript: make push" in text
    assert "inlineScript: make monitor" in text


def test_jenkins_binds_the_app_registration_from_its_credentials(render):
    text = (project(render, "jenkins") / "Jenkinsfile").read_text()
    for credential in ("azure-client-id", "azure-tenant-id", "azure-client-secret"):
        assert f"credentials('{credential}')" in text


@pytest.mark.parametrize("vendor", VENDORS)
def test_readme_explains_the_setup_for_the_vendor(render, vendor):
    readme = (project(render, vendor) / "README.md").read_text()
    assert "azure://mldata/dvc" in readme
    assert "terraform init" in readme
    # The state container comes from the bootstrap module, not from hand-typed commands.
    assert "terraform -chdir=infra/bootstrap/azure apply" in readme
    assert "AZURE_CLIENT_ID" in readme
    if not PLAN["vendors"][vendor]["oidc"]["azure"]:
        assert "az ad app credential reset" in readme
        assert "AZURE_CLIENT_SECRET" in readme or "azure-client-secret" in readme
    else:
        assert "az ad app credential reset" not in readme
