"""A DynamoDB Streams simulator: one table and its stream, following the AWS API reference.

moto's stream has one shard that never closes, never expires an iterator and never throttles (see
../shared/FACTS.md), so it cannot show what a stream consumer must survive. This double models what
the DynamoDB Streams API reference documents, not what our consumer would like:

- Writes (`put`, `update`, `delete`) change the table and append INSERT / MODIFY / REMOVE records
  whose images follow the StreamViewType. A write that changes nothing appends no record.
- Sequence numbers are 21-40 digit strings that only grow; they start just below a power of ten, so
  "99…" and "100…" both occur early in any test.
- Items hash into the open shard that owns their key's hash range. `split` closes a shard (it gets an
  EndingSequenceNumber) and creates children (ParentShardId) sharing its range, as partitions do.
- DescribeStream returns at most 100 shards per call (ExclusiveStartShardId / LastEvaluatedShardId,
  which may be set on the last page too), optionally filtered with ShardFilter CHILD_SHARDS.
- GetRecords returns at most Limit (<= 1000) records and 1 MB; an open shard may answer with empty
  Records a few times before data; a closed shard, once drained, returns no NextShardIterator.
- Iterators expire (ExpiredIteratorException, 15 minutes); records older than 24 hours are trimmed
  (TrimmedDataAccessException when reading or asking for an iterator before the trim point); fully
  trimmed closed shards leave the stream (ResourceNotFoundException). Time is a controllable clock.
- Faults can be injected per operation (LimitExceededException by default), and hooks run before an
  operation is served (outside the lock: a hook may block one caller while others go on).

DynamoDB itself answers DescribeTable and Scan (parallel segments, pages), for backfills.

It is served two ways through one request handler (`handle`, AWS JSON 1.0): in-process, as real
boto3 clients whose requests are answered without a socket (`make_clients` / `install`, the
`ingest.streams.make_clients` seam), and over HTTP (`StreamSimServer`) for other processes.
Not modelled: the limit of two concurrent readers per shard, global tables, TTL scheduling.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import itertools
import json
import random
import socket
import sys
import threading
import time
import uuid
import zlib
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.awsrequest import AWSResponse

ACCOUNT = "123456789012"
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
DYNAMODB_TARGET = "DynamoDB_20120810"
STREAMS_TARGET = "DynamoDBStreams_20120810"
VIEW_TYPES = ("KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES")
MAX_SHARDS_PER_PAGE = 100
MAX_RECORDS_PER_CALL = 1000
MAX_BYTES_PER_CALL = 1024 * 1024
HASH_SPACE = 2**64
TTL_IDENTITY = {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


class SimError(Exception):
    """An error answer of the API: its code (the __type suffix), message and HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


@dataclass
class SimShard:
    shard_id: str
    parent_id: str | None
    lo: int  # the shard owns item hashes in [lo, hi)
    hi: int
    starting: int
    ending: int | None = None
    closed_at: float | None = None
    records: deque = field(default_factory=deque)  # (sequence, created_at, record)
    trimmed_through: int | None = None  # the newest sequence number trimmed away

    @property
    def is_open(self) -> bool:
        return self.ending is None

    def describe(self) -> dict[str, Any]:
        seq_range = {"StartingSequenceNumber": str(self.starting)}
        if self.ending is not None:
            seq_range["EndingSequenceNumber"] = str(self.ending)
        shard = {"ShardId": self.shard_id, "SequenceNumberRange": seq_range}
        if self.parent_id:
            shard["ParentShardId"] = self.parent_id
        return shard

    def last_sequence(self) -> int:
        return self.records[-1][0] if self.records else (self.trimmed_through or self.starting)


class StreamSim:
    """One table with its stream. Thread-safe; every API call takes the lock."""

    _count = 0

    def __init__(
        self,
        *,
        table_name: str = "Donations",
        region: str = "us-east-1",
        view_type: str = "NEW_AND_OLD_IMAGES",
        hash_key: str = "id",
        range_key: str | None = None,
        shards: int = 4,
        seed: int = 0,
        first_sequence: int = 10**21 - 1000,
        iterator_ttl: float = 15 * 60,
        retention: float = 24 * 3600,
        empty_reads: tuple[int, int] = (0, 2),
        endpoint_url: str | None = None,
        stream_enabled: bool = True,
    ):
        if view_type not in VIEW_TYPES:
            raise ValueError(f"unknown StreamViewType {view_type}")
        StreamSim._count += 1
        self.table_name = table_name
        self.region = region
        self.view_type = view_type
        self.key_names = (hash_key,) + ((range_key,) if range_key else ())
        self.iterator_ttl = iterator_ttl
        self.retention = retention
        self.empty_reads = empty_reads
        self.endpoint_url = endpoint_url or f"http://streamsim-{StreamSim._count}.test"
        self.rng = random.Random(seed)
        self.hooks: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.calls: dict[str, int] = defaultdict(int)
        self._lock = threading.RLock()
        self._offset = 0.0
        self._last_sequence = first_sequence - 1
        self._last_shard_number = 0
        self._faults: dict[str, deque] = defaultdict(deque)
        self._items: dict[str, dict[str, Any]] = {}  # canonical key -> item (AttributeValues)
        self._shards: dict[str, SimShard] = {}
        self._open: list[tuple[int, str]] = []  # (lo, shard id), sorted: the hash ring
        self.table_exists = True
        self.stream_enabled = stream_enabled
        self.created_at = self.now()
        label = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.created_at))
        self.stream_label = f"{label}.{int(self.created_at * 1000) % 1000:03d}"
        self.table_arn = f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table_name}"
        self.stream_arn = f"{self.table_arn}/stream/{self.stream_label}"
        width = HASH_SPACE // shards
        for n in range(shards):
            self._new_shard(None, n * width, HASH_SPACE if n == shards - 1 else (n + 1) * width)

    # --- clock --------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (iterator expiry, trimming); real time keeps flowing too."""
        with self._lock:
            self._offset += seconds
            self._trim()

    # --- the table ----------------------------------------------------------------------------
    def put(self, item: dict[str, Any]) -> dict[str, Any] | None:
        """PutItem: replaces the whole item. Returns the stream record, or None if nothing changed."""
        new = to_image(item)
        with self._lock:
            return self._write(self._key_of(new), new)

    def update(
        self, key: dict[str, Any], set: dict[str, Any] | None = None, remove: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """UpdateItem on top-level attributes (creates the item if missing, as DynamoDB does)."""
        with self._lock:
            key_image = to_image(key)
            canonical = self._key_of(key_image)
            new = dict(self._items.get(canonical, key_image))
            new.update(to_image(set or {}))
            for name in remove:
                if name in self.key_names:
                    raise ValueError(f"cannot remove key attribute {name}")
                new.pop(name, None)
            return self._write(canonical, new)

    def delete(self, key: dict[str, Any], *, ttl: bool = False) -> dict[str, Any] | None:
        """DeleteItem (or a TTL expiry with ttl=True). Deleting a missing item emits nothing."""
        with self._lock:
            return self._write(self._key_of(to_image(key)), None, ttl=ttl)

    def images(self) -> list[dict[str, Any]]:
        """The table's items as AttributeValue maps (what a Scan returns on the wire)."""
        with self._lock:
            return [dict(item) for item in self._items.values()]

    def items(self) -> list[dict[str, Any]]:
        """The table's items as boto3's resource API gives them (numbers as Decimal)."""
        deserialize = TypeDeserializer().deserialize
        return [{k: deserialize(v) for k, v in image.items()} for image in self.images()]

    def enable_stream(self) -> None:
        """Turn the stream on (UpdateTable StreamSpecification): writes from now on are recorded."""
        with self._lock:
            self.stream_enabled = True

    def delete_table(self) -> None:
        """The table and its stream are gone: every call about them is ResourceNotFound."""
        with self._lock:
            self.table_exists = False

    def _key_of(self, image: dict[str, Any]) -> str:
        try:
            return canonical_json({name: image[name] for name in self.key_names})
        except KeyError as exc:
            raise ValueError(f"item lacks key attribute {exc}") from None

    def _write(
        self, canonical: str, new: dict[str, Any] | None, *, ttl: bool = False
    ) -> dict[str, Any] | None:
        if not self.table_exists:
            raise SimError("ResourceNotFoundException", "Requested resource not found")
        old = self._items.get(canonical)
        if old is None and new is None:
            return None
        if old is not None and new is not None and canonical_json(old) == canonical_json(new):
            return None  # a write that changes nothing emits no stream record
        if new is None:
            del self._items[canonical]
        else:
            self._items[canonical] = new
        if not self.stream_enabled:
            return None
        event = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        keys = {name: (new or old)[name] for name in self.key_names}
        return self._append(canonical, self._record(event, keys, old, new, ttl=ttl))

    def _record(
        self, event: str, keys: dict, old: dict | None, new: dict | None, *, ttl: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"ApproximateCreationDateTime": int(self.now()), "Keys": keys}
        if new is not None and self.view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            body["NewImage"] = new
        if old is not None and self.view_type in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
            body["OldImage"] = old
        body["SequenceNumber"] = str(self._next_sequence())
        body["SizeBytes"] = len(
            canonical_json({k: body[k] for k in ("Keys", "NewImage", "OldImage") if k in body})
        )
        body["StreamViewType"] = self.view_type
        record = {
            "eventID": uuid.UUID(int=self.rng.getrandbits(128)).hex,
            "eventName": event,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": self.region,
            "dynamodb": body,
        }
        if ttl:
            record["userIdentity"] = dict(TTL_IDENTITY)
        return record

    def _append(self, canonical: str, record: dict[str, Any]) -> dict[str, Any]:
        self._trim()
        point = key_hash(canonical)
        index = bisect.bisect_right(self._open, (point, "\uffff")) - 1
        shard = self._shards[self._open[index][1]]
        sequence = int(record["dynamodb"]["SequenceNumber"])
        shard.records.append((sequence, self.now(), record))
        return record

    def _next_sequence(self) -> int:
        self._last_sequence += self.rng.randint(1, 10)
        return self._last_sequence

    # --- shards -------------------------------------------------------------------------------
    def shard(self, shard_id: str) -> SimShard:
        return self._shards[shard_id]

    def shard_ids(self, *, open_only: bool = False) -> list[str]:
        with self._lock:
            return [sid for sid, s in sorted(self._shards.items()) if s.is_open or not open_only]

    def shard_of_key(self, key: dict[str, Any]) -> str:
        """The open shard that records writes to this item now."""
        with self._lock:
            point = key_hash(self._key_of(to_image(key)))
            return self._open[bisect.bisect_right(self._open, (point, "\uffff")) - 1][1]

    def keys_in_shard(self, shard_id: str, count: int, prefix: str = "donation") -> list[str]:
        """`count` item ids ({hash key: id}) whose writes land in this open shard."""
        name = self.key_names[0]
        found, n = [], 0
        while len(found) < count:
            n += 1
            if self.shard_of_key({name: f"{prefix}-{n}"}) == shard_id:
                found.append(f"{prefix}-{n}")
        return found

    def shard_records(self, shard_id: str) -> list[dict[str, Any]]:
        """The records still held by a shard (trimmed ones are gone), oldest first."""
        with self._lock:
            return [record for _, _, record in self._shards[shard_id].records]

    def split(
        self, shard_id: str | None = None, *, children: int = 2, numbered_from: int | None = None
    ) -> list[str]:
        """Close an open shard (a random one if not given); its children share its hash range.

        numbered_from: sequence numbers go on from there (below the parent's last ones). AWS does
        not document that a child's numbers are larger than its parent's; this shows what happens
        if they are not (use it with one shard: numbers stay increasing within each shard)."""
        if children not in (1, 2):
            raise ValueError("a shard has one child (rollover) or two (split)")
        with self._lock:
            self._trim()
            if shard_id is None:
                shard_id = self.rng.choice([sid for _, sid in self._open])
            parent = self._shards[shard_id]
            if not parent.is_open:
                raise ValueError(f"{shard_id} is already closed")
            parent.ending = parent.last_sequence()  # trimmed records count: they were in the shard
            parent.closed_at = self.now()
            self._open.remove((parent.lo, shard_id))
            if numbered_from is not None:
                self._last_sequence = numbered_from
            if children == 1:
                return [self._new_shard(shard_id, parent.lo, parent.hi)]
            middle = parent.lo + (parent.hi - parent.lo) // 2
            return [
                self._new_shard(shard_id, parent.lo, middle),
                self._new_shard(shard_id, middle, parent.hi),
            ]

    def split_all(self) -> list[str]:
        """One generation: every open shard splits in two."""
        with self._lock:
            return [child for _, sid in list(self._open) for child in self.split(sid)]

    def _new_shard(self, parent_id: str | None, lo: int, hi: int) -> str:
        # Shard ids sort in creation order (a time-like number, then a random suffix), so
        # ExclusiveStartShardId keeps its place even after that shard has left the stream.
        self._last_shard_number = max(self._last_shard_number + 1, int(self.now() * 1000))
        shard_id = f"shardId-{self._last_shard_number:020d}-{self.rng.getrandbits(32):08x}"
        self._shards[shard_id] = SimShard(shard_id, parent_id, lo, hi, starting=self._next_sequence())
        bisect.insort(self._open, (lo, shard_id))
        return shard_id

    def _trim(self) -> None:
        horizon = self.now() - self.retention
        for shard_id, shard in list(self._shards.items()):
            while shard.records and shard.records[0][1] < horizon:
                shard.trimmed_through = shard.records.popleft()[0]
            if shard.closed_at is not None and shard.closed_at < horizon and not shard.records:
                del self._shards[shard_id]  # a closed shard leaves the stream once all is trimmed

    # --- faults and hooks ---------------------------------------------------------------------
    def inject(
        self, operation: str, code: str = "LimitExceededException", *, times: int = 1, message: str = ""
    ) -> None:
        """The next `times` calls of `operation` fail with `code` (LimitExceeded: throttling)."""
        status = 500 if code in ("InternalServerError", "ServiceUnavailable") else 400
        with self._lock:
            for _ in range(times):
                self._faults[operation].append(SimError(code, message or f"Injected {code}", status))

    def throttle(self, operation: str = "GetRecords", *, times: int = 1) -> None:
        self.inject(
            operation,
            "LimitExceededException",
            times=times,
            message="Rate exceeded for shard; reduce the frequency of requests",
        )

    # --- the API ------------------------------------------------------------------------------
    def handle(self, target: str, body: bytes) -> tuple[int, bytes]:
        """Serve one AWS JSON 1.0 request; returns the HTTP status and body."""
        service, _, operation = target.partition(".")
        handler = OPERATIONS.get((service, operation))
        try:
            if handler is None:
                raise SimError("UnknownOperationException", f"unknown operation {target}")
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise SimError("SerializationException", "request body is not JSON") from None
            hook = self.hooks.get(operation)
            if hook is not None:
                hook(params)  # outside the lock: it may block this caller while others go on
            with self._lock:
                self.calls[operation] += 1
                if self._faults[operation]:
                    raise self._faults[operation].popleft()
                self._trim()
                result = handler(self, params)
            return 200, json.dumps(result).encode()
        except SimError as exc:
            return exc.status, json.dumps(
                {"__type": ERROR_PREFIX + exc.code, "message": exc.message}
            ).encode()

    def _require_table(self, name: str | None) -> None:
        if not self.table_exists or name != self.table_name:
            raise SimError(
                "ResourceNotFoundException", f"Requested resource not found: Table: {name} not found"
            )

    def _require_stream(self, arn: str | None) -> None:
        if not self.table_exists or not self.stream_enabled or arn != self.stream_arn:
            raise SimError(
                "ResourceNotFoundException", f"Requested resource not found: Stream: {arn} not found"
            )

    def _require_shard(self, shard_id: str | None) -> SimShard:
        shard = self._shards.get(shard_id or "")
        if shard is None:
            raise SimError(
                "ResourceNotFoundException",
                f"Requested resource not found: Shard does not exist ({shard_id})",
            )
        return shard

    def describe_table(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require_table(params.get("TableName"))
        key_types = ("HASH", "RANGE")[: len(self.key_names)]
        key_schema = [
            {"AttributeName": n, "KeyType": t} for n, t in zip(self.key_names, key_types, strict=True)
        ]
        stream = {}
        if self.stream_enabled:
            stream = {
                "StreamSpecification": {"StreamEnabled": True, "StreamViewType": self.view_type},
                "LatestStreamArn": self.stream_arn,
                "LatestStreamLabel": self.stream_label,
            }
        return {
            "Table": {
                "TableName": self.table_name,
                "TableStatus": "ACTIVE",
                "TableArn": self.table_arn,
                "KeySchema": key_schema,
                "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in self.key_names],
                "CreationDateTime": self.created_at,
                "ItemCount": len(self._items),
                "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
                **stream,
            }
        }

    def scan(self, params: dict[str, Any]) -> dict[str, Any]:
        """A (parallel) Scan page: segments own contiguous key-hash ranges, pages end at Limit items
        or 1 MB, and LastEvaluatedKey is set whenever a page ends early (even if nothing is left)."""
        self._require_table(params.get("TableName"))
        segment, total = params.get("Segment"), params.get("TotalSegments")
        if (segment is None) != (total is None) or (total is not None and not 0 <= segment < total):
            raise SimError(
                "ValidationException", "Segment and TotalSegments go together, 0 <= Segment < TotalSegments"
            )
        limit = params.get("Limit", 10**9)
        if not isinstance(limit, int) or limit < 1:
            raise SimError("ValidationException", f"Limit must be at least 1, not {limit!r}")
        order = sorted((key_hash(canonical), canonical) for canonical in self._items)
        if total is not None:
            order = [entry for entry in order if entry[0] * total // HASH_SPACE == segment]
        if params.get("ExclusiveStartKey"):
            start = canonical_json(params["ExclusiveStartKey"])
            order = [entry for entry in order if entry > (key_hash(start), start)]
        items, size = [], 0
        for _, canonical in order[:limit]:
            size += len(canonical_json(self._items[canonical]))
            if items and size > MAX_BYTES_PER_CALL:
                break
            items.append(self._items[canonical])
        result: dict[str, Any] = {"Items": items, "Count": len(items), "ScannedCount": len(items)}
        if len(items) < len(order) or len(items) == limit:
            result["LastEvaluatedKey"] = {name: items[-1][name] for name in self.key_names}
        return result

    def list_streams(self, params: dict[str, Any]) -> dict[str, Any]:
        limit = _limit(params, MAX_SHARDS_PER_PAGE)
        streams = []
        if self.table_exists and self.stream_enabled and params.get("TableName") in (None, self.table_name):
            streams = [
                {"StreamArn": self.stream_arn, "TableName": self.table_name, "StreamLabel": self.stream_label}
            ]
        start = params.get("ExclusiveStartStreamArn")
        if start:
            streams = [s for s in streams if s["StreamArn"] > start]
        result: dict[str, Any] = {"Streams": streams[:limit]}
        if len(streams) > limit:
            result["LastEvaluatedStreamArn"] = streams[limit - 1]["StreamArn"]
        return result

    def describe_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require_stream(params.get("StreamArn"))
        limit = _limit(params, MAX_SHARDS_PER_PAGE)
        shards = [self._shards[sid] for sid in sorted(self._shards)]
        shard_filter = params.get("ShardFilter")
        if shard_filter:
            if shard_filter.get("Type") != "CHILD_SHARDS" or not shard_filter.get("ShardId"):
                raise SimError("ValidationException", "ShardFilter needs Type CHILD_SHARDS and a ShardId")
            shards = [s for s in shards if s.parent_id == shard_filter["ShardId"]]
        start = params.get("ExclusiveStartShardId")
        if start:
            shards = [s for s in shards if s.shard_id > start]
        page = shards[:limit]
        description: dict[str, Any] = {
            "StreamArn": self.stream_arn,
            "StreamLabel": self.stream_label,
            "StreamStatus": "ENABLED",
            "StreamViewType": self.view_type,
            "CreationRequestDateTime": self.created_at,
            "TableName": self.table_name,
            "KeySchema": self.describe_table({"TableName": self.table_name})["Table"]["KeySchema"],
            "Shards": [s.describe() for s in page],
        }
        # Set whenever the page is full: "not empty does not necessarily mean more data" (AWS).
        if len(page) == limit:
            description["LastEvaluatedShardId"] = page[-1].shard_id
        return {"StreamDescription": description}

    def get_shard_iterator(self, params: dict[str, Any]) -> dict[str, Any]:
        self._require_stream(params.get("StreamArn"))
        shard = self._require_shard(params.get("ShardId"))
        kind = params.get("ShardIteratorType")
        if kind == "TRIM_HORIZON":
            position = shard.trimmed_through if shard.trimmed_through is not None else shard.starting - 1
        elif kind == "LATEST":
            position = shard.last_sequence()
        elif kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER"):
            sequence = _sequence_param(params.get("SequenceNumber"))
            if sequence < shard.starting or sequence > (shard.ending or self._last_sequence):
                raise SimError(
                    "ValidationException",
                    f"Invalid SequenceNumber {sequence} for "
                    f"ShardIteratorType {kind} in shard {shard.shard_id}",
                )
            position = sequence - 1 if kind == "AT_SEQUENCE_NUMBER" else sequence
            if shard.trimmed_through is not None and position < shard.trimmed_through:
                raise SimError(
                    "TrimmedDataAccessException",
                    f"SequenceNumber {sequence} is older than the trim point of shard {shard.shard_id}",
                )
        else:
            raise SimError("ValidationException", f"Invalid ShardIteratorType {kind!r}")
        warmup = self.rng.randint(*self.empty_reads) if shard.is_open else 0
        return {"ShardIterator": self._iterator(shard.shard_id, position, warmup)}

    def get_records(self, params: dict[str, Any]) -> dict[str, Any]:
        token = _decode_iterator(params.get("ShardIterator"))
        self._require_stream(token["arn"])
        shard = self._require_shard(token["shard"])
        if self.now() - token["issued"] > self.iterator_ttl:
            raise SimError(
                "ExpiredIteratorException",
                f"Iterator expired. The iterator was created {self.now() - token['issued']:.0f} seconds ago",
            )
        position = token["after"]
        if shard.trimmed_through is not None and position < shard.trimmed_through:
            raise SimError(
                "TrimmedDataAccessException",
                f"The iterator points at records of shard {shard.shard_id} that have been trimmed",
            )
        limit = _limit(params, MAX_RECORDS_PER_CALL)
        if token["warmup"] > 0 and shard.is_open:
            return {
                "Records": [],
                "NextShardIterator": self._iterator(shard.shard_id, position, token["warmup"] - 1),
            }
        records, size, last = [], 0, position
        start = bisect.bisect_right(shard.records, position, key=lambda entry: entry[0])
        for sequence, _, record in itertools.islice(shard.records, start, start + limit):
            size += record["dynamodb"]["SizeBytes"]
            if records and size > MAX_BYTES_PER_CALL:
                break
            records.append(record)
            last = sequence
        result: dict[str, Any] = {"Records": records}
        drained = not shard.is_open and start + len(records) == len(shard.records)
        # A closed shard says it is finished (no NextShardIterator) either with its last records
        # or on the call after: the reference allows both, so consumers must handle both.
        if drained and (not records or self.rng.random() < 0.5):
            return result
        result["NextShardIterator"] = self._iterator(shard.shard_id, last, 0)
        return result

    def _iterator(self, shard_id: str, after: int, warmup: int) -> str:
        token = {
            "arn": self.stream_arn,
            "shard": shard_id,
            "after": after,
            "issued": self.now(),
            "warmup": warmup,
        }
        return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()

    # --- in-process clients -------------------------------------------------------------------
    def make_clients(self, *, region: str | None = None, endpoint_url: str | None = None) -> tuple[Any, Any]:
        """Real boto3 clients (DynamoDB, DynamoDB Streams) whose requests this simulator answers
        in-process: botocore validates parameters, parses responses and raises ClientError."""
        from urllib.parse import urlsplit

        from django.test import override_settings

        from ingest.streams import boto_clients

        # The simulator's made-up host is allowed for these clients only (ingest/endpoints.py).
        with override_settings(INGEST_ALLOWED_ENDPOINTS=[urlsplit(self.endpoint_url).netloc]):
            clients = boto_clients(region=region or self.region, endpoint_url=self.endpoint_url)
        for client in clients:
            client.meta.events.register("before-send", self._answer)
        return clients

    def install(self, monkeypatch: Any) -> None:
        """Make `ingest.streams.make_clients` reach this simulator for its endpoint_url."""
        from ingest import streams

        previous = streams.make_clients

        def make_clients(*, region: str, endpoint_url: str | None = None) -> tuple[Any, Any]:
            if endpoint_url == self.endpoint_url:
                return self.make_clients(region=region)
            return previous(region=region, endpoint_url=endpoint_url)

        monkeypatch.setattr(streams, "make_clients", make_clients)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        target = request.headers.get("X-Amz-Target")
        if isinstance(target, bytes):
            target = target.decode()
        status, body = self.handle(target or "", request.body or b"")
        return AWSResponse(request.url, status, response_headers(body), _Body(body))


OPERATIONS: dict[tuple[str, str], Callable[[StreamSim, dict[str, Any]], dict[str, Any]]] = {
    (DYNAMODB_TARGET, "DescribeTable"): StreamSim.describe_table,
    (DYNAMODB_TARGET, "Scan"): StreamSim.scan,
    (STREAMS_TARGET, "ListStreams"): StreamSim.list_streams,
    (STREAMS_TARGET, "DescribeStream"): StreamSim.describe_stream,
    (STREAMS_TARGET, "GetShardIterator"): StreamSim.get_shard_iterator,
    (STREAMS_TARGET, "GetRecords"): StreamSim.get_records,
}


class _Body:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self.body


def response_headers(body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/x-amz-json-1.0",
        "Content-Length": str(len(body)),
        "x-amzn-RequestId": uuid.uuid4().hex.upper(),
        "x-amz-crc32": str(zlib.crc32(body)),
    }


class StreamSimServer:
    """The simulator over HTTP (AWS JSON 1.0), for worker processes using boto3 with endpoint_url."""

    def __init__(self, sim: StreamSim, host: str = "127.0.0.1", port: int = 0):
        self.sim = sim
        handler = type("Handler", (_Handler,), {"sim": sim})
        self.httpd = _Server((host, port), handler)  # port 0: the kernel picks a free one
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="streamsim", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StreamSimServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client killed mid-call is normal
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    sim: StreamSim
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and delayed ACKs
        # add 40 ms to every call.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, answer = self.sim.handle(self.headers.get("X-Amz-Target", ""), body)
        self.send_response(status)
        for name, value in response_headers(answer).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_: Any) -> None:
        pass


# --- a workload -----------------------------------------------------------------------------------
PLATFORMS = ("Facebook", "Phone", "Website", "Text", "Event")


class Donations:
    """A reproducible donation workload: inserts, amount and platform updates, deletes, re-inserts,
    and now and then a write that changes nothing (which must emit no record)."""

    def __init__(self, sim: StreamSim, *, seed: int = 0, keys: int = 500):
        self.sim = sim
        self.rng = random.Random(seed)
        self.keys = [f"donation-{n}" for n in range(keys)]
        self.live: dict[str, dict[str, Any]] = {}

    def write(self, count: int) -> int:
        """Make `count` write calls; returns how many stream records they produced."""
        return sum(self.write_one() is not None for _ in range(count))

    def write_one(self) -> dict[str, Any] | None:
        key = self.rng.choice(self.keys)
        item = self.live.get(key)
        roll = self.rng.random()
        if item is None:
            return self._put(self.new_item(key))
        if roll < 0.35:
            return self._update(key, amount=Decimal(self.rng.randint(100, 500_000)) / 100)
        if roll < 0.55:
            return self._update(key, platform=self.rng.choice(PLATFORMS))
        if roll < 0.75:
            self.live.pop(key)
            return self.sim.delete({"id": key}, ttl=self.rng.random() < 0.1)
        if roll < 0.8:
            return self._put(dict(item))  # the same item again: no record
        return self._put(self.new_item(key))

    def new_item(self, key: str) -> dict[str, Any]:
        return {
            "id": key,
            "amount": Decimal(self.rng.randint(100, 500_000)) / 100,
            "platform": self.rng.choice(PLATFORMS),
            "email": f"donor{self.rng.randint(1, 200)}@example.org",
        }

    def _put(self, item: dict[str, Any]) -> dict[str, Any] | None:
        self.live[item["id"]] = item
        return self.sim.put(item)

    def _update(self, key: str, **changes: Any) -> dict[str, Any] | None:
        self.live[key].update(changes)
        return self.sim.update({"id": key}, set=changes)


# --- values ---------------------------------------------------------------------------------------
def to_image(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values (str, int, Decimal, bytes, bool, None, dict, list, set) as AttributeValues
    the way they travel in JSON: numbers normalized as DynamoDB stores them, binary as base64."""
    serialize = TypeSerializer().serialize
    return {name: _wire(serialize(value)) for name, value in item.items()}


def _wire(value: dict[str, Any]) -> dict[str, Any]:
    ((tag, raw),) = value.items()
    if tag == "N":
        return {"N": _number(raw)}
    if tag == "NS":
        return {"NS": sorted({_number(n) for n in raw})}
    if tag == "SS":
        return {"SS": sorted(raw)}
    if tag == "B":
        return {"B": base64.b64encode(bytes(raw)).decode()}
    if tag == "BS":
        return {"BS": sorted(base64.b64encode(bytes(b)).decode() for b in raw)}
    if tag == "M":
        return {"M": {k: _wire(v) for k, v in raw.items()}}
    if tag == "L":
        return {"L": [_wire(v) for v in raw]}
    return value


def _number(raw: str) -> str:
    text = format(Decimal(raw).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def key_hash(canonical_key: str) -> int:
    return int.from_bytes(hashlib.blake2b(canonical_key.encode(), digest_size=8).digest(), "big")


def _limit(params: dict[str, Any], maximum: int) -> int:
    limit = params.get("Limit", maximum)
    if not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise SimError("ValidationException", f"Limit must be between 1 and {maximum}, not {limit!r}")
    return limit


def _sequence_param(raw: Any) -> int:
    if not isinstance(raw, str) or not raw.isascii() or not raw.isdigit() or not 21 <= len(raw) <= 40:
        raise SimError("ValidationException", f"Invalid SequenceNumber {raw!r}")
    return int(raw)


def shard_of_iterator(iterator: str) -> str:
    """The shard a ShardIterator reads (for hooks that act on one shard)."""
    return _decode_iterator(iterator)["shard"]


def _decode_iterator(raw: Any) -> dict[str, Any]:
    try:
        token = json.loads(base64.urlsafe_b64decode(raw.encode()))
        if set(token) != {"arn", "shard", "after", "issued", "warmup"}:
            raise ValueError
        return token
    except (AttributeError, ValueError, TypeError):
        raise SimError("ValidationException", "Invalid ShardIterator") from None


def stream_caught_up(store, campaign_id: int, sim: StreamSim) -> bool:
    """Every record in the simulated stream is behind a checkpoint (closed shards: END)."""
    from ingest.consumer import stream_key
    from ingest.store import END

    checkpoints = store.checkpoints(campaign_id, stream_key(sim.stream_arn))
    for shard_id in sim.shard_ids():
        shard = sim.shard(shard_id)
        if not shard.is_open:
            if checkpoints.get(shard_id) != END:
                return False
        elif shard.records and checkpoints.get(shard_id) != str(shard.records[-1][0]):
            return False
    return True
