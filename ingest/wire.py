"""A fast parser for GetRecords responses, plugged into botocore (ingest/streams.py).

botocore parses a response by walking its service model shape by shape; for GetRecords, whose
records nest AttributeValue unions several levels deep, that costs about 30 µs a record, more than
everything else the worker does. The response is JSON (AWS JSON 1.0) whose shape is exactly the
boto3 result but for two types: timestamps travel as epoch seconds (boto3 gives a datetime) and
binary attribute values as base64 text (boto3 gives bytes). So one orjson.loads and those two
conversions give the records botocore would (tests/ingest/test_wire.py compares the two on every
recorded response). Everything else stays botocore's: credentials, signing, retries, errors (an
error response is left to botocore untouched), the foreign-error guard.

Pure Python with no botocore import: `install(events)` registers it on a client's event system.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson

EVENT = "before-parse.dynamodb-streams.GetRecords"
IMAGES = ("Keys", "NewImage", "OldImage")
_UTC = dt.UTC
_fromtimestamp = dt.datetime.fromtimestamp


def parse_get_records(body: bytes) -> dict[str, Any]:
    """A GetRecords response body as boto3 returns it (Records, NextShardIterator)."""
    data = orjson.loads(body)
    records = data.get("Records")
    if records:
        binary = b'"B' in body  # no attribute value of type B or BS anywhere: nothing to decode
        for record in records:
            stream = record.get("dynamodb")
            if stream is None:
                continue
            created = stream.get("ApproximateCreationDateTime")
            if created is not None:
                stream["ApproximateCreationDateTime"] = _fromtimestamp(created, _UTC)
            if binary:
                for image in IMAGES:
                    values = stream.get(image)
                    if values:
                        for value in values.values():
                            _decode_binary(value)
    return data


def _decode_binary(value: Any) -> None:
    """Turn base64 text into bytes inside one AttributeValue (and the values nested in it)."""
    if not isinstance(value, dict):
        return
    for tag, inner in value.items():
        if tag == "B":
            value[tag] = base64.b64decode(inner)
        elif tag == "BS":
            value[tag] = [base64.b64decode(b) for b in inner]
        elif tag == "M":
            for nested in inner.values():
                _decode_binary(nested)
        elif tag == "L":
            for nested in inner:
                _decode_binary(nested)


def before_parse(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """botocore's `before-parse` hook: parse a successful GetRecords body here, and leave botocore
    an empty body (it still builds ResponseMetadata from the headers, and parses every error)."""
    if response_dict.get("status_code", 500) >= 300:
        return
    body = response_dict.get("body")
    if not body:
        return
    try:
        parsed = parse_get_records(body)
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return  # not what DynamoDB Streams writes: botocore's parser says what is wrong with it
    customized_response_dict.update(parsed)
    response_dict["body"] = b"{}"


def install(events: Any) -> None:
    events.register(EVENT, before_parse, unique_id="fundraiser-fast-get-records")
