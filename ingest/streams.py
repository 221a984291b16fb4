"""The DynamoDB and DynamoDB Streams clients: the single module tests replace.

`make_clients` is the seam: the worker only calls describe_table, describe_stream,
get_shard_iterator and get_records through what it returns, so a stream simulator that follows the
AWS documentation can stand in for AWS (tests/streamsim.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, EndpointConnectionError

from . import wire
from .endpoints import EndpointNotAllowed, endpoint_refusal, require_allowed

BOTO_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)

USABLE_VIEW_TYPES = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")  # the records carry the item's new state
AWS_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
# The errors DynamoDB and DynamoDB Streams answer with (API references, common errors).
DYNAMODB_ERROR_CODES = frozenset(
    {
        "AccessDeniedException",
        "ConditionalCheckFailedException",
        "ExpiredIteratorException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InternalFailure",
        "InternalServerError",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "LimitExceededException",
        "MissingAuthenticationToken",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ResourceInUseException",
        "ResourceNotFoundException",
        "SerializationException",
        "ServiceUnavailable",
        "ThrottlingException",
        "TrimmedDataAccessException",
        "UnknownOperationException",
        "UnrecognizedClientException",
        "ValidationException",
    }
)
AWS_ERROR_CODE = re.compile(r"[A-Z][A-Za-z0-9]{2,99}")  # ResourceNotFoundException, not "500"
ERROR_TEXT_LIMIT = 300

TRANSIENT_CODES = {
    "LimitExceededException",
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
}


@dataclass(frozen=True)
class Shard:
    shard_id: str
    parent_id: str | None
    starting_sequence: str | None
    ending_sequence: str | None  # set once the shard is closed

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Shard:
        seq = raw.get("SequenceNumberRange") or {}
        return cls(
            raw["ShardId"],
            raw.get("ParentShardId"),
            seq.get("StartingSequenceNumber"),
            seq.get("EndingSequenceNumber"),
        )


@dataclass(frozen=True)
class StreamInfo:
    arn: str | None
    view_type: str | None
    status: str | None


def boto_clients(*, region: str, endpoint_url: str | None) -> tuple[Any, Any]:
    """The DynamoDB and Streams clients of one campaign, guarded (docs/security.md).

    An endpoint URL outside INGEST_ALLOWED_ENDPOINTS is refused here, and again on every request
    (`before-send`), so nothing is ever sent there; the refusal surfaces on the first call, as an
    error of that campaign alone. An error response that is not DynamoDB's own JSON is reduced to
    its status before botocore builds the exception, so no foreign body reaches a log or a page.
    Redirects are never followed (botocore hands urllib3 `Retry(False)`; tests hold it to that).
    """
    from django.conf import settings

    allowed = list(getattr(settings, "INGEST_ALLOWED_ENDPOINTS", []))
    refusal = endpoint_refusal(endpoint_url, allowed)
    kwargs: dict[str, Any] = {"region_name": region, "config": BOTO_CONFIG}
    if endpoint_url and refusal is None:
        kwargs["endpoint_url"] = endpoint_url
    clients = boto3.client("dynamodb", **kwargs), boto3.client("dynamodbstreams", **kwargs)
    wire.install(clients[1].meta.events)  # GetRecords parsed without botocore's shape walk
    for client in clients:
        events = client.meta.events
        events.register("before-send", partial(_refuse_request, refusal=refusal, allowed=allowed))
        events.register("after-call", partial(_strip_foreign_error, aws=not kwargs.get("endpoint_url")))
    return clients


def _refuse_request(request: Any, *, refusal: str | None, allowed: list[str], **_: Any) -> None:
    if refusal:
        raise EndpointNotAllowed(refusal)
    host = urlsplit(request.url).hostname or ""
    if not host.endswith(AWS_DOMAINS):  # botocore resolved it to AWS, or it is an allowed endpoint
        require_allowed(request.url, allowed)


def _strip_foreign_error(http_response: Any, parsed: dict[str, Any], *, aws: bool = True, **_: Any) -> None:
    """After an error response, keep DynamoDB's code and message only when DynamoDB wrote them.

    From AWS itself: its code and message. From an allowed local endpoint (DynamoDB Local, moto):
    the code if it is one DynamoDB uses, never the message, which that server wrote."""
    if http_response is None or http_response.status_code < 300:
        return
    error = parsed.get("Error")
    if not isinstance(error, dict):
        return
    code = str(error.get("Code") or "")
    if AWS_ERROR_CODE.fullmatch(code) and (aws or code in DYNAMODB_ERROR_CODES):  # a JSON __type
        error["Message"] = _bounded(str(error.get("Message") or "")) if aws else ""
        return
    parsed["Error"] = {
        "Code": f"HTTP{http_response.status_code}",
        "Message": f"the endpoint answered HTTP {http_response.status_code} with a body that is not "
        "a DynamoDB error (not shown)",
    }


def _bounded(text: str, limit: int = ERROR_TEXT_LIMIT) -> str:
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_text(exc: BaseException) -> str:
    """What an AWS failure may show in the admin, health and logs: its code and message, bounded.

    Never a response body: a ClientError is reduced to the error code and message DynamoDB wrote
    (see _strip_foreign_error for responses DynamoDB did not write); other botocore errors to their
    class and, for connection failures (which name only our own endpoint), their message.
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        if not AWS_ERROR_CODE.fullmatch(code):
            status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode", "?")
            return f"HTTP {status}: the endpoint's answer is not a DynamoDB error (not shown)"
        message = _bounded(str(error.get("Message") or ""))
        return f"{code}: {message}" if message else code
    name = type(exc).__name__
    if isinstance(exc, EndpointNotAllowed | ConnectionClosedError | EndpointConnectionError):
        return _bounded(f"{name}: {exc}")
    if isinstance(exc, BotoCoreError):
        return name  # e.g. ResponseParserError, whose text quotes the body
    return _bounded(f"{name}: {exc}")


# Tests assign a different factory here (the one seam); everything else goes through it.
make_clients: Callable[..., tuple[Any, Any]] = boto_clients


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return type(exc).__name__


class StreamReader:
    """Reads one table's stream through the DynamoDB Streams API."""

    def __init__(self, *, table: str, region: str, endpoint_url: str | None = None):
        self.table = table
        self.dynamodb, self.streams = make_clients(region=region, endpoint_url=endpoint_url or None)

    def describe(self) -> StreamInfo:
        table = self.dynamodb.describe_table(TableName=self.table)["Table"]
        spec = table.get("StreamSpecification") or {}
        enabled = spec.get("StreamEnabled", False)
        return StreamInfo(
            arn=table.get("LatestStreamArn") if enabled else None,
            view_type=spec.get("StreamViewType"),
            status=table.get("TableStatus"),
        )

    def list_shards(self, stream_arn: str) -> list[Shard]:
        """Every shard of the stream; DescribeStream returns at most 100 per call."""
        shards: list[Shard] = []
        kwargs: dict[str, Any] = {"StreamArn": stream_arn}
        seen_pages: set[str] = set()
        while True:
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shards.extend(Shard.from_api(raw) for raw in description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last or last in seen_pages:
                return shards
            seen_pages.add(last)
            kwargs["ExclusiveStartShardId"] = last

    def iterator(
        self, stream_arn: str, shard_id: str, *, after: str | None = None, at: str | None = None
    ) -> str:
        """An iterator after (or at) a sequence number; from the oldest record kept without either."""
        kwargs: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
        if after:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        elif at:
            kwargs.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=at)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self.streams.get_shard_iterator(**kwargs)["ShardIterator"]

    def get_records(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None]:
        response = self.streams.get_records(ShardIterator=iterator, Limit=limit)
        return response.get("Records", []), response.get("NextShardIterator")
