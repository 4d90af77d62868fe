"""Invalid answers are refused before anything renders, with a message saying what is allowed."""

import copier
import pytest

from conftest import TEMPLATE

INVALID = {
    "project name starting with a digit": (
        {"project_name": "1st model"},
        "a letter first, then letters, digits",
    ),
    "project name with a slash": ({"project_name": "ml/model"}, "letters, digits, spaces, dashes"),
    "project name too long for resource names": ({"project_name": "a" * 41}, "3-40 characters"),
    "package name with a dash": (
        {"package_name": "ml-model"},
        "a valid Python identifier",
    ),
    "package name that shadows a dependency": ({"package_name": "sklearn"}, "shadows"),
    "bucket with uppercase and underscore": (
        {"data_store": "s3", "s3_bucket": "My_Bucket"},
        "bucket names are 3-63 lowercase letters, digits, dots or dashes",
    ),
    "bucket shaped like an IP address": (
        {"data_store": "s3", "s3_bucket": "192.168.1.1"},
        "bucket names are 3-63",
    ),
    "unknown region": ({"deploy_target": "aws_ecs", "aws_region": "mars-east-1"}, "us-east-1"),
    "region without its number": ({"data_store": "s3", "aws_region": "eu-west"}, "us-east-1"),
    "cron with four fields": ({"retrain_schedule": "0 3 * *"}, "5 fields"),
    "cron hour out of range": ({"retrain_schedule": "0 24 * * *"}, "hour 0-23"),
    "cron with names": ({"retrain_schedule": "0 3 * * MON"}, "use digits"),
    "endpoint that is not a URL": (
        {"data_store": "s3", "s3_endpoint_url": "minio:9000"},
        "http(s) URL",
    ),
    "threshold above one": ({"min_accuracy": 1.5}, "from 0 to 1"),
    "e-mail without a domain": ({"author_email": "me@"}, "name@example.com"),
    "repository without an owner": (
        {"deploy_target": "aws_ecs", "repository_path": "fraud-model"},
        "owner/name",
    ),
    "unknown CI provider": ({"ci_provider": "teamcity"}, "github_actions"),
    "unknown experiment tracker": ({"experiment_tracking": "wandb"}, "mlflow"),
    "unknown task": ({"task": "ranking"}, "multiclass_classification"),
    "regression error threshold of zero": (
        {"task": "regression", "max_rmse": 0},
        "the largest error is a positive number below 10^12, such as 65",
    ),
    "regression error threshold of infinity": (
        {"task": "regression", "max_rmse": "inf"},
        "the largest error is a positive number",
    ),
    "R squared above one": ({"task": "regression", "min_r2": 1.2}, "from 0 to 1"),
    "data on GCP, service on AWS": (
        {"data_store": "gcs", "deploy_target": "aws_ecs"},
        "a project uses one cloud, so pick a deploy target on GCP (gcp_cloud_run)",
    ),
    "data on AWS, service on Cloud Run": (
        {"data_store": "s3", "deploy_target": "gcp_cloud_run"},
        "deploy target on AWS (aws_ecs, aws_sagemaker) or a cloud-neutral",
    ),
    "data on GCP, service on Container Apps": (
        {"data_store": "gcs", "deploy_target": "azure_container_apps"},
        "runs on AZURE but data_store gcs keeps the data on GCP",
    ),
    "data on Azure, service on SageMaker": (
        {"data_store": "azure_blob", "deploy_target": "aws_sagemaker"},
        "(azure_container_apps) or a cloud-neutral",
    ),
    "unknown deploy target": ({"deploy_target": "heroku"}, "aws_sagemaker"),
    "data on Azure, service on AWS": (
        {"data_store": "azure_blob", "deploy_target": "aws_ecs"},
        "or a data store on AWS",
    ),
    "bad GCP project": ({"data_store": "gcs", "gcp_project_id": "My_Project"}, "6-30 lowercase"),
    "bad storage account": (
        {"data_store": "azure_blob", "azure_storage_account": "has-dashes"},
        "3-24 lowercase letters and digits",
    ),
    "ssh host with a user in it": (
        {"data_store": "ssh", "ssh_host": "me@server"},
        "no user, port or path",
    ),
}


@pytest.mark.parametrize(("answers", "allowed"), INVALID.values(), ids=INVALID.keys())
def test_invalid_answer_is_refused_with_what_is_allowed(tmp_path, answers, allowed) -> None:
    with pytest.raises(ValueError) as refused:
        copier.run_copy(
            str(TEMPLATE),
            tmp_path / "p",
            data=answers,
            defaults=True,
            unsafe=True,
            quiet=True,
            vcs_ref="HEAD",
        )
    assert allowed in str(refused.value)
    assert not (tmp_path / "p" / "Makefile").exists(), "nothing renders from a refused answer"
