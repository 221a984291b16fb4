"""Is a campaign's donation table usable? Checked when an organizer saves it, in organizer words.

DescribeTable and DescribeStream are sent with the campaign's own settings (table, region, endpoint)
and the credentials the worker will use, through the one client module (ingest.streams), so what
passes here is what the worker can read. Each failure is one SourceProblem: a plain message, the
form field it concerns and the console setting or AWS CLI command that fixes it. Only AWS's error
code and message are ever quoted (ingest.streams.error_text), never a response body.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from ingest import streams
from ingest.endpoints import EndpointNotAllowed

REGION_SYNTAX = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
# What organizers type instead of a region code: the console shows "Europe (Ireland) eu-west-1".
_REGION_ALIASES = {
    "eu-west-1": ("ireland", "dublin"),
    "eu-west-2": ("london",),
    "eu-west-3": ("paris",),
    "eu-central-1": ("frankfurt",),
    "eu-central-2": ("zurich",),
    "eu-north-1": ("stockholm",),
    "eu-south-1": ("milan",),
    "eu-south-2": ("spain",),
    "us-east-1": ("virginia", "n. virginia", "northern virginia"),
    "us-east-2": ("ohio",),
    "us-west-1": ("california", "n. california"),
    "us-west-2": ("oregon",),
    "ca-central-1": ("canada", "montreal"),
    "ca-west-1": ("calgary",),
    "sa-east-1": ("sao paulo", "são paulo"),
    "ap-northeast-1": ("tokyo",),
    "ap-northeast-2": ("seoul",),
    "ap-northeast-3": ("osaka",),
    "ap-south-1": ("mumbai",),
    "ap-south-2": ("hyderabad",),
    "ap-southeast-1": ("singapore",),
    "ap-southeast-2": ("sydney",),
    "ap-southeast-3": ("jakarta",),
    "ap-southeast-4": ("melbourne",),
    "ap-east-1": ("hong kong",),
    "af-south-1": ("cape town",),
    "me-south-1": ("bahrain",),
    "me-central-1": ("uae",),
    "il-central-1": ("tel aviv",),
    "mx-central-1": ("mexico",),
}
REGION_NAMES = {name: code for code, names in _REGION_ALIASES.items() for name in names}
CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredTokenException",
    }
)
# What the worker needs to be allowed (IAM actions), quoted in the access-denied fix.
NEEDED_ACTIONS = (
    "dynamodb:DescribeTable",
    "dynamodb:Scan",
    "dynamodb:DescribeStream",
    "dynamodb:GetShardIterator",
    "dynamodb:GetRecords",
)
VIEW_TYPE_NOTES = {
    "NEW_AND_OLD_IMAGES": "The stream sends each donation as it was before and after every change "
    "(NEW_AND_OLD_IMAGES): new gifts, corrections and refunds are all counted exactly.",
    "NEW_IMAGE": "The stream sends each donation as it is after every change (NEW_IMAGE): new gifts, "
    "corrections and refunds are all counted exactly (the dashboard remembers what each donation "
    "counted for). NEW_AND_OLD_IMAGES would also keep the previous amount in the stream, for audits.",
}


@dataclass(frozen=True)
class SourceProblem:
    kind: str  # missing_table, bad_region, no_stream, keys_only, no_credentials, access_denied...
    field: str | None  # the form field it concerns (None: the whole source)
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.message} How to fix it: {self.fix}"


@dataclass(frozen=True)
class SourceCheck:
    problems: tuple[SourceProblem, ...] = ()
    view_type: str | None = None
    item_count: int | None = None  # DescribeTable's estimate (updated about every six hours)
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.problems


def known_regions() -> set[str]:
    session = boto3.session.Session()
    regions = set()
    for partition in ("aws", "aws-cn", "aws-us-gov"):
        regions.update(session.get_available_regions("dynamodb", partition_name=partition))
    return regions


def region_problem(region: str) -> SourceProblem | None:
    """None for a region code botocore knows, or a well-formed one it may not know yet."""
    region = region.strip()
    if region in known_regions():
        return None
    lowered = region.lower()
    suggestion = REGION_NAMES.get(lowered.strip("() ")) or next(
        (code for name, code in REGION_NAMES.items() if name in lowered), None
    )
    if suggestion is None and lowered in known_regions():
        suggestion = lowered
    if suggestion is None and REGION_SYNTAX.fullmatch(region):
        return None  # perhaps a region newer than this server's botocore: DynamoDB will say
    if suggestion is None:
        close = difflib.get_close_matches(lowered, sorted(known_regions()), n=1)
        suggestion = close[0] if close else None
    hint = f" Did you mean {suggestion}?" if suggestion else ""
    return SourceProblem(
        "bad_region",
        "region",
        f"“{region}” is not an AWS region code.{hint}",
        "Type the code the AWS console shows next to the region's name at the top right, "
        "e.g. eu-west-1 for Europe (Ireland) or us-east-1 for US East (N. Virginia).",
    )


def check_source(*, table_name: str, region: str, endpoint_url: str = "") -> SourceCheck:
    """Everything the worker will need from the table, checked now, with a fix for each failure."""
    problem = region_problem(region)
    if problem is not None:
        return SourceCheck((problem,))
    try:
        dynamodb, stream_client = streams.make_clients(
            region=region.strip(), endpoint_url=endpoint_url or None
        )
        table = dynamodb.describe_table(TableName=table_name)["Table"]
    except Exception as exc:  # noqa: BLE001 - every failure becomes its own plain message
        return SourceCheck((call_problem(exc, table_name=table_name, region=region, action="DescribeTable"),))
    return stream_check(table, stream_client, table_name=table_name, region=region)


def stream_check(table: dict[str, Any], stream_client: Any, *, table_name: str, region: str) -> SourceCheck:
    spec = table.get("StreamSpecification") or {}
    view_type = spec.get("StreamViewType") if spec.get("StreamEnabled") else None
    count = table.get("ItemCount")
    arn = table.get("LatestStreamArn")
    if view_type is None or not arn:
        return SourceCheck((no_stream(table_name, region),), None, count)
    if view_type not in streams.USABLE_VIEW_TYPES:
        return SourceCheck((unusable_view(table_name, region, view_type),), view_type, count)
    try:
        description = stream_client.describe_stream(StreamArn=arn)["StreamDescription"]
    except Exception as exc:  # noqa: BLE001
        problem = call_problem(exc, table_name=table_name, region=region, action="DescribeStream")
        return SourceCheck((problem,), view_type, count)
    if description.get("StreamStatus") in ("DISABLING", "DISABLED"):
        return SourceCheck((no_stream(table_name, region),), view_type, count)
    return SourceCheck((), view_type, count, (VIEW_TYPE_NOTES[view_type],))


def enable_stream_command(table_name: str, region: str) -> str:
    return (
        f"aws dynamodb update-table --region {region} --table-name {table_name} "
        "--stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"
    )


def no_stream(table_name: str, region: str) -> SourceProblem:
    return SourceProblem(
        "no_stream",
        "table_name",
        f"The table {table_name} does not send its changes anywhere: its DynamoDB stream is off, so "
        "the dashboard would never hear about new donations.",
        "In the AWS console open the table, tab “Exports and streams”, “DynamoDB stream details”, "
        "Turn on, choose “New and old images”. Or run: " + enable_stream_command(table_name, region),
    )


def unusable_view(table_name: str, region: str, view_type: str) -> SourceProblem:
    what = (
        "only the keys of each changed donation, not its amount"
        if view_type == "KEYS_ONLY"
        else ("each donation as it was before a change, not as it is now")
    )
    return SourceProblem(
        "keys_only" if view_type == "KEYS_ONLY" else "old_image",
        "table_name",
        f"The table {table_name}'s stream sends {what} ({view_type}): the dashboard cannot count "
        "from it. It needs “New image” or “New and old images”.",
        "A stream's view type cannot be changed in place: turn the stream off, then on again with "
        "“New and old images” (console: table, “Exports and streams”). Or run "
        f"aws dynamodb update-table --region {region} --table-name {table_name} "
        "--stream-specification StreamEnabled=false, then " + enable_stream_command(table_name, region),
    )


def call_problem(exc: BaseException, *, table_name: str, region: str, action: str) -> SourceProblem:
    """One failed call to DynamoDB in organizer words, quoting AWS's code and message only."""
    for explain in (_credentials_problem, _access_problem, _endpoint_problem):
        problem = explain(exc, table_name=table_name, region=region, action=action)
        if problem is not None:
            return problem
    raise exc


def _credentials_problem(exc: BaseException, **_: str) -> SourceProblem | None:
    if isinstance(exc, NoCredentialsError):
        return SourceProblem(
            "no_credentials",
            None,
            "This server has no AWS credentials, so it cannot read any table.",
            "Whoever runs the server gives the worker and web processes AWS credentials: an IAM "
            "role (EC2, ECS) or the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment "
            "variables. Check with: aws sts get-caller-identity",
        )
    if streams.error_code(exc) in CREDENTIAL_CODES:
        return SourceProblem(
            "bad_credentials",
            None,
            "AWS does not accept this server's credentials: the access key is unknown, expired or "
            f"from another AWS partition (DynamoDB said: {streams.error_text(exc)}).",
            "Whoever runs the server replaces the access key (IAM console, Users, Security "
            "credentials, Create access key) or renews the session. Check with: aws sts get-caller-identity",
        )
    return None


def _access_problem(exc: BaseException, *, table_name: str, region: str, action: str) -> SourceProblem | None:
    code = streams.error_code(exc)
    if code == "AccessDeniedException":
        return SourceProblem(
            "access_denied",
            "table_name",
            f"This server's AWS credentials are not allowed to read the table {table_name} "
            f"({action} was refused) (DynamoDB said: {streams.error_text(exc)}).",
            "In the IAM console, give the server's user or role a policy allowing "
            + ", ".join(NEEDED_ACTIONS)
            + f" on arn:aws:dynamodb:{region}:<account>:table/{table_name} and "
            f"arn:aws:dynamodb:{region}:<account>:table/{table_name}/stream/*.",
        )
    if code == "ResourceNotFoundException":
        return SourceProblem(
            "missing_table",
            "table_name",
            f"There is no table named {table_name} in {region}. Table names are case-sensitive, "
            "and each region has its own tables.",
            f"Check the name and the region in the AWS console (DynamoDB, Tables, region at the top "
            f"right), or list them: aws dynamodb list-tables --region {region}",
        )
    return None


def _endpoint_problem(exc: BaseException, *, region: str, action: str, **_: str) -> SourceProblem | None:
    if isinstance(exc, EndpointConnectionError):
        return SourceProblem(
            "unreachable",
            "region",
            f"DynamoDB could not be reached in region {region}: the region code may be wrong, or "
            "this server has no network access to AWS.",
            "Check the region code in the AWS console (top right, e.g. eu-west-1); whoever runs the "
            "server checks its outbound HTTPS access.",
        )
    if isinstance(exc, EndpointNotAllowed):
        return SourceProblem("endpoint_refused", "endpoint_url", f"{exc}.", "Leave the endpoint URL empty.")
    if isinstance(exc, ClientError | BotoCoreError):
        return SourceProblem(
            "aws_error",
            None,
            f"DynamoDB refused {action}: {streams.error_text(exc)}.",
            "Check the table name, region and the server's AWS access, then save again.",
        )
    return None
