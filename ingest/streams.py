"""The DynamoDB and DynamoDB Streams clients: the single module tests replace.

`make_clients` is the seam: the worker only calls describe_table, describe_stream,
get_shard_iterator and get_records through what it returns, so a stream simulator that follows the
AWS documentation can stand in for AWS (tests/streamsim.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

BOTO_CONFIG = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5, read_timeout=10)

USABLE_VIEW_TYPES = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")  # the records carry the item's new state
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
    kwargs: dict[str, Any] = {"region_name": region, "config": BOTO_CONFIG}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.client("dynamodb", **kwargs), boto3.client("dynamodbstreams", **kwargs)


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
