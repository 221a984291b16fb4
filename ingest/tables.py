"""Reading a DynamoDB table itself (parallel Scan) for backfills and rebuilds.

Goes through the same seam as the stream reader (ingest.streams.make_clients), so tests can stand a
simulator in for AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import streams


@dataclass(frozen=True)
class TableInfo:
    key_names: tuple[str, ...]
    item_count: int  # DynamoDB refreshes this about every six hours: an estimate for progress


@dataclass(frozen=True)
class ScanPage:
    items: list[dict[str, Any]]  # AttributeValue maps, as the low-level client returns them
    last_key: dict[str, Any] | None


class TableReader:
    def __init__(self, *, table: str, region: str, endpoint_url: str | None = None):
        self.table = table
        self.dynamodb, _ = streams.make_clients(region=region, endpoint_url=endpoint_url or None)

    def describe(self) -> TableInfo:
        table = self.dynamodb.describe_table(TableName=self.table)["Table"]
        keys = tuple(k["AttributeName"] for k in table["KeySchema"])
        return TableInfo(key_names=keys, item_count=int(table.get("ItemCount", 0)))

    def scan_page(
        self, *, segment: int, total_segments: int, start_key: dict[str, Any] | None, limit: int
    ) -> ScanPage:
        # Consistent reads: every write committed before the page is read is in it, which the merge of
        # scanned items with stream records relies on (docs/correctness.md).
        kwargs: dict[str, Any] = {"TableName": self.table, "Limit": limit, "ConsistentRead": True}
        if total_segments > 1:
            kwargs.update(Segment=segment, TotalSegments=total_segments)
        if start_key:
            kwargs["ExclusiveStartKey"] = start_key
        page = self.dynamodb.scan(**kwargs)
        return ScanPage(items=page.get("Items", []), last_key=page.get("LastEvaluatedKey"))
