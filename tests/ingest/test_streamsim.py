"""The stream simulator behaves as the DynamoDB Streams API reference says, through boto3 clients
(in-process and over HTTP), so the consumer's fault tests test against the documentation."""

from __future__ import annotations

import datetime
from decimal import Decimal

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.streamsim import StreamSim, StreamSimServer


def error_of(call, **kwargs) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"]


def read_shard(streams, sim: StreamSim, shard_id: str, kind: str = "TRIM_HORIZON", polls: int = 10):
    iterator = streams.get_shard_iterator(StreamArn=sim.stream_arn, ShardId=shard_id, ShardIteratorType=kind)[
        "ShardIterator"
    ]
    records, answers = [], []
    for _ in range(polls):
        answer = streams.get_records(ShardIterator=iterator)
        answers.append(answer)
        records += answer["Records"]
        iterator = answer.get("NextShardIterator")
        if iterator is None:
            break
    return records, answers


@pytest.fixture
def sim() -> StreamSim:
    return StreamSim(shards=1, seed=1, empty_reads=(0, 0))


@pytest.fixture
def streams(sim):
    return sim.make_clients()[1]


def test_a_write_that_changes_nothing_emits_no_record(sim, streams):
    assert sim.put({"id": "1", "amount": Decimal("25.50")})
    assert sim.put({"id": "1", "amount": Decimal("25.5")}) is None  # the same number
    assert sim.update({"id": "1"}, set={"amount": Decimal("25.5")}) is None
    assert sim.delete({"id": "2"}) is None
    records, _ = read_shard(streams, sim, sim.shard_ids()[0])
    assert [r["eventName"] for r in records] == ["INSERT"]


@pytest.mark.parametrize(
    ("view_type", "images"),
    [
        ("KEYS_ONLY", [set(), set(), set()]),
        ("NEW_IMAGE", [{"NewImage"}, {"NewImage"}, set()]),
        ("OLD_IMAGE", [set(), {"OldImage"}, {"OldImage"}]),
        ("NEW_AND_OLD_IMAGES", [{"NewImage"}, {"NewImage", "OldImage"}, {"OldImage"}]),
    ],
)
def test_records_carry_the_images_their_view_type_asks_for(view_type, images):
    sim = StreamSim(shards=1, view_type=view_type, empty_reads=(0, 0))
    sim.put({"id": "1", "amount": 5})
    sim.update({"id": "1"}, set={"amount": 6})
    sim.delete({"id": "1"}, ttl=True)
    records, _ = read_shard(sim.make_clients()[1], sim, sim.shard_ids()[0])
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert [set(r["dynamodb"]) & {"NewImage", "OldImage"} for r in records] == images
    assert all(r["dynamodb"]["Keys"] == {"id": {"S": "1"}} for r in records)
    assert all(r["dynamodb"]["StreamViewType"] == view_type for r in records)
    assert records[2]["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}


def test_sequence_numbers_grow_across_a_power_of_ten(sim, streams):
    for n in range(300):
        sim.put({"id": str(n)})
    records, _ = read_shard(streams, sim, sim.shard_ids()[0])
    sequences = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert {len(s) for s in sequences} == {21, 22}
    assert [int(s) for s in sequences] == sorted(int(s) for s in sequences)
    assert sequences != sorted(sequences)  # compared as strings, "100…" would come before "99…"


def test_describe_stream_returns_at_most_100_shards_per_call():
    sim = StreamSim(shards=200)
    streams = sim.make_clients()[1]
    pages, kwargs = [], {}
    while True:
        description = streams.describe_stream(StreamArn=sim.stream_arn, **kwargs)["StreamDescription"]
        pages.append(len(description["Shards"]))
        if "LastEvaluatedShardId" not in description:
            break
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
    # The last page is full, so it still has a LastEvaluatedShardId: only an empty one ends the list.
    assert pages == [100, 100, 0]
    assert error_of(streams.describe_stream, StreamArn=sim.stream_arn, Limit=101) == "ValidationException"


def test_a_split_closes_the_parent_and_its_children_take_its_items(sim, streams):
    parent = sim.shard_ids()[0]
    sim.put({"id": "before"})
    children = sim.split(parent)
    for n in range(20):
        sim.put({"id": str(n)})
    described = {
        s["ShardId"]: s
        for s in streams.describe_stream(StreamArn=sim.stream_arn)["StreamDescription"]["Shards"]
    }
    assert "EndingSequenceNumber" in described[parent]["SequenceNumberRange"]
    assert [described[c].get("ParentShardId") for c in children] == [parent, parent]
    assert all("EndingSequenceNumber" not in described[c]["SequenceNumberRange"] for c in children)
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in read_shard(streams, sim, parent)[0]] == ["before"]
    assert sum(len(sim.shard_records(c)) for c in children) == 20
    assert all(sim.shard_records(c) for c in children)
    only_children = streams.describe_stream(
        StreamArn=sim.stream_arn, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": parent}
    )
    assert [s["ShardId"] for s in only_children["StreamDescription"]["Shards"]] == children


def test_a_closed_shard_returns_its_records_then_no_next_iterator(sim, streams):
    shard_id = sim.shard_ids()[0]
    for n in range(5):
        sim.put({"id": str(n)})
    sim.split(shard_id)
    records, answers = read_shard(streams, sim, shard_id)
    assert len(records) == 5
    assert "NextShardIterator" not in answers[-1]


def test_an_open_shard_may_answer_empty_before_its_records():
    sim = StreamSim(shards=1, empty_reads=(2, 2))
    sim.put({"id": "1"})
    records, answers = read_shard(sim.make_clients()[1], sim, sim.shard_ids()[0], polls=3)
    assert [len(a["Records"]) for a in answers] == [0, 0, 1]
    assert all("NextShardIterator" in a for a in answers)


def test_get_records_returns_at_most_the_limit_and_one_megabyte(sim, streams):
    for n in range(1200):
        sim.put({"id": str(n)})
    iterator = streams.get_shard_iterator(
        StreamArn=sim.stream_arn, ShardId=sim.shard_ids()[0], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    assert len(streams.get_records(ShardIterator=iterator)["Records"]) == 1000
    assert len(streams.get_records(ShardIterator=iterator, Limit=7)["Records"]) == 7
    assert error_of(streams.get_records, ShardIterator=iterator, Limit=1001) == "ValidationException"

    big = StreamSim(shards=1, empty_reads=(0, 0))
    for n in range(30):
        big.put({"id": str(n), "note": "x" * 100_000})
    records, answers = read_shard(big.make_clients()[1], big, big.shard_ids()[0])
    assert len(records) == 30
    assert 1 < len(answers)
    assert all(sum(r["dynamodb"]["SizeBytes"] for r in a["Records"]) <= 1024 * 1024 for a in answers)


def test_iterators_expire_after_15_minutes(sim, streams):
    sim.put({"id": "1"})
    iterator = streams.get_shard_iterator(
        StreamArn=sim.stream_arn, ShardId=sim.shard_ids()[0], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    sim.advance(14 * 60)
    next_iterator = streams.get_records(ShardIterator=iterator)["NextShardIterator"]
    sim.advance(2 * 60)
    assert error_of(streams.get_records, ShardIterator=iterator) == "ExpiredIteratorException"
    assert streams.get_records(ShardIterator=next_iterator)["Records"] == []


def test_records_older_than_24_hours_are_trimmed(sim, streams):
    shard_id = sim.shard_ids()[0]
    old = sim.put({"id": "old"})["dynamodb"]["SequenceNumber"]
    sim.put({"id": "older-than-a-day-too"})
    iterator = streams.get_shard_iterator(
        StreamArn=sim.stream_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    sim.advance(10 * 3600)
    sim.put({"id": "new"})
    sim.advance(15 * 3600)
    iterator_kwargs = {"StreamArn": sim.stream_arn, "ShardId": shard_id, "SequenceNumber": old}
    assert (
        error_of(streams.get_shard_iterator, ShardIteratorType="AFTER_SEQUENCE_NUMBER", **iterator_kwargs)
        == "TrimmedDataAccessException"
    )
    assert (
        error_of(streams.get_shard_iterator, ShardIteratorType="AT_SEQUENCE_NUMBER", **iterator_kwargs)
        == "TrimmedDataAccessException"
    )
    sim.iterator_ttl = 10**9  # an iterator still valid, pointing at what is gone
    assert error_of(streams.get_records, ShardIterator=iterator) == "TrimmedDataAccessException"
    records, _ = read_shard(streams, sim, shard_id)
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in records] == ["new"]


def test_a_closed_shard_leaves_the_stream_once_it_is_trimmed(sim, streams):
    parent = sim.shard_ids()[0]
    sim.put({"id": "1"})
    sim.split(parent)
    sim.advance(25 * 3600)
    assert parent not in sim.shard_ids()
    assert (
        error_of(
            streams.get_shard_iterator,
            StreamArn=sim.stream_arn,
            ShardId=parent,
            ShardIteratorType="TRIM_HORIZON",
        )
        == "ResourceNotFoundException"
    )


def test_unknown_tables_streams_and_shards_are_not_found(sim):
    dynamodb, streams = sim.make_clients()
    assert error_of(dynamodb.describe_table, TableName="Nope") == "ResourceNotFoundException"
    assert error_of(streams.describe_stream, StreamArn=sim.stream_arn + "x") == "ResourceNotFoundException"
    assert (
        error_of(
            streams.get_shard_iterator,
            StreamArn=sim.stream_arn,
            ShardId="shardId-" + "0" * 28,
            ShardIteratorType="LATEST",
        )
        == "ResourceNotFoundException"
    )


def test_injected_throttling_is_a_limit_exceeded_error(sim, streams):
    sim.throttle("DescribeStream", times=3)  # botocore tries 3 times (BOTO_CONFIG), then gives up
    assert error_of(streams.describe_stream, StreamArn=sim.stream_arn) == "LimitExceededException"
    assert streams.describe_stream(StreamArn=sim.stream_arn)["StreamDescription"]["Shards"]


def test_a_parallel_scan_returns_every_item_once_in_pages(sim):
    for n in range(100):
        sim.put({"id": str(n), "amount": n})
    dynamodb = sim.make_clients()[0]
    seen = []
    for segment in range(4):
        kwargs = {"TableName": "Donations", "Segment": segment, "TotalSegments": 4, "Limit": 7}
        while True:
            page = dynamodb.scan(**kwargs)
            assert page["Count"] <= 7
            seen += [item["id"]["S"] for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    assert sorted(seen) == sorted(str(n) for n in range(100))
    assert error_of(dynamodb.scan, TableName="Donations", Segment=4, TotalSegments=4) == "ValidationException"


def test_a_plain_boto3_client_reads_it_over_http():
    sim = StreamSim(shards=2, seed=3, empty_reads=(0, 0))
    server = StreamSimServer(sim).start()
    try:
        kwargs = {"region_name": "us-east-1", "endpoint_url": server.url}
        dynamodb, streams = boto3.client("dynamodb", **kwargs), boto3.client("dynamodbstreams", **kwargs)
        for n in range(50):
            sim.put({"id": str(n), "amount": Decimal(n) / 4, "blob": b"\x00\xff"})
        table = dynamodb.describe_table(TableName="Donations")["Table"]
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert (
            streams.list_streams(TableName="Donations")["Streams"][0]["StreamArn"] == table["LatestStreamArn"]
        )
        records = [r for shard_id in sim.shard_ids() for r in read_shard(streams, sim, shard_id)[0]]
        assert len(records) == 50
        created = records[0]["dynamodb"]["ApproximateCreationDateTime"]
        assert isinstance(created, datetime.datetime) and created.microsecond == 0  # epoch seconds
        assert records[0]["dynamodb"]["NewImage"]["blob"] == {"B": b"\x00\xff"}
        sim.advance(16 * 60)
        iterator = streams.get_shard_iterator(
            StreamArn=sim.stream_arn, ShardId=sim.shard_ids()[0], ShardIteratorType="LATEST"
        )["ShardIterator"]
        sim.advance(16 * 60)
        assert error_of(streams.get_records, ShardIterator=iterator) == "ExpiredIteratorException"
    finally:
        server.stop()
