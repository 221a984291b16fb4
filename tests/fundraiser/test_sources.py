"""A campaign's table is checked with its own settings, and each failure says what fixes it."""

from __future__ import annotations

import boto3
import pytest

from fundraiser.sources import check_source
from tests.aws_errors import AwsErrorEndpoint
from tests.factories import make_table


def only_problem(check):
    assert len(check.problems) == 1, check.problems
    return check.problems[0]


def test_a_table_with_a_new_and_old_images_stream_passes(moto):
    make_table(moto.url)
    check = check_source(table_name="Donations", region="us-east-1", endpoint_url=moto.url)
    assert check.ok and check.view_type == "NEW_AND_OLD_IMAGES"
    assert "corrections and refunds are all counted exactly" in check.notes[0]


def test_it_says_a_missing_table_does_not_exist_in_that_region(moto):
    make_table(moto.url)
    problem = only_problem(check_source(table_name="donations", region="us-east-1", endpoint_url=moto.url))
    assert problem.kind == "missing_table" and problem.field == "table_name"
    assert problem.message == (
        "There is no table named donations in us-east-1. Table names are case-sensitive, "
        "and each region has its own tables."
    )
    assert "aws dynamodb list-tables --region us-east-1" in problem.fix


@pytest.mark.parametrize(
    ("typed", "suggested"),
    [("Ireland", "eu-west-1"), ("Europe (Frankfurt)", "eu-central-1"), ("EU-WEST-2", "eu-west-2")],
)
def test_it_says_a_region_name_is_not_a_region_code_and_suggests_one(typed, suggested):
    problem = only_problem(check_source(table_name="Donations", region=typed))
    assert problem.kind == "bad_region" and problem.field == "region"
    assert problem.message == f"“{typed}” is not an AWS region code. Did you mean {suggested}?"
    assert "eu-west-1 for Europe (Ireland)" in problem.fix


def test_it_says_the_stream_is_off_and_gives_the_command_that_turns_it_on(moto):
    make_table(moto.url, view_type=None)
    problem = only_problem(check_source(table_name="Donations", region="us-east-1", endpoint_url=moto.url))
    assert problem.kind == "no_stream"
    assert "its DynamoDB stream is off" in problem.message
    assert problem.fix.endswith(
        "aws dynamodb update-table --region us-east-1 --table-name Donations "
        "--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"
    )


def test_it_refuses_a_keys_only_stream_and_says_how_to_switch_it(moto):
    make_table(moto.url, view_type="KEYS_ONLY")
    problem = only_problem(check_source(table_name="Donations", region="us-east-1", endpoint_url=moto.url))
    assert problem.kind == "keys_only"
    assert "only the keys of each changed donation, not its amount (KEYS_ONLY)" in problem.message
    assert "StreamEnabled=false" in problem.fix and "StreamViewType=NEW_AND_OLD_IMAGES" in problem.fix


def test_it_says_the_server_has_no_credentials(moto, monkeypatch, tmp_path):
    make_table(moto.url)
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a server process started without any
    problem = only_problem(check_source(table_name="Donations", region="us-east-1", endpoint_url=moto.url))
    assert problem.kind == "no_credentials"
    assert problem.message == "This server has no AWS credentials, so it cannot read any table."
    assert "AWS_ACCESS_KEY_ID" in problem.fix


def test_it_says_aws_does_not_accept_the_credentials():
    with AwsErrorEndpoint("UnrecognizedClientException") as aws:
        problem = only_problem(check_source(table_name="Donations", region="us-east-1", endpoint_url=aws.url))
    assert problem.kind == "bad_credentials"
    assert problem.message.startswith("AWS does not accept this server's credentials")
    # From an endpoint that is not AWS itself, only the code is quoted (ingest.streams).
    assert "(DynamoDB said: UnrecognizedClientException)" in problem.message


def test_it_says_access_is_denied_and_which_permissions_to_grant():
    with AwsErrorEndpoint("AccessDeniedException") as aws:
        problem = only_problem(check_source(table_name="Donations", region="us-east-1", endpoint_url=aws.url))
    assert problem.kind == "access_denied"
    assert problem.message == (
        "This server's AWS credentials are not allowed to read the table Donations "
        "(DescribeTable was refused) (DynamoDB said: AccessDeniedException)."
    )
    assert "dynamodb:GetRecords" in problem.fix and "table/Donations/stream/*" in problem.fix
