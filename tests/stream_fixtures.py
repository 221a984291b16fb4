"""Stream records as AWS delivers them, from tests/fixtures/streams/ (see the README there)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
from botocore.parsers import create_parser

FIXTURES = Path(__file__).parent / "fixtures" / "streams"
VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def lambda_event(name: str) -> dict[str, Any]:
    """A Lambda event payload: B values stay base64 text, times stay epoch seconds."""
    return json.loads(fixture_text(name))


def boto3_get_records(name: str) -> dict[str, Any]:
    """What `boto3.client("dynamodbstreams").get_records()` returns for the recorded body:
    botocore's own parser and service model turn times into datetimes and base64 into bytes."""
    body = fixture_text(name).encode()
    http_response = {"status_code": 200, "headers": {"x-amzn-requestid": "fixture"}, "body": body}
    return _parser().parse(http_response, _get_records_model().output_shape)


def donations(shape: str, view_type: str) -> list[dict[str, Any]]:
    """The five donation records for one stream view type, in the "boto3" or "lambda" shape."""
    name = f"{view_type.lower()}.json"
    if shape == "boto3":
        return boto3_get_records(f"get_records_donations_{name}")["Records"]
    return lambda_event(f"lambda_donations_{name}")["Records"]


@cache
def _get_records_model():
    return botocore.session.get_session().get_service_model("dynamodbstreams").operation_model("GetRecords")


@cache
def _parser():
    return create_parser(_get_records_model().service_model.metadata["protocol"])
