"""The fast GetRecords parser (ingest/wire.py) gives exactly the records botocore gives."""

from __future__ import annotations

import base64
import json
import random

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from ingest import wire
from ingest.streams import BOTO_CONFIG
from tests.ingest.test_records import decode_all
from tests.stream_fixtures import FIXTURES, boto3_get_records

GET_RECORDS_FIXTURES = sorted(path.name for path in FIXTURES.glob("get_records_*.json"))


def without_metadata(response: dict) -> dict:
    return {name: value for name, value in response.items() if name != "ResponseMetadata"}


@pytest.mark.parametrize("name", GET_RECORDS_FIXTURES)
def test_it_gives_what_botocore_gives_for_every_recorded_response(name):
    body = (FIXTURES / name).read_bytes()
    ours, botocores = wire.parse_get_records(body), without_metadata(boto3_get_records(name))
    assert ours == botocores
    assert decode_all(ours["Records"]) == decode_all(botocores["Records"])


def test_it_turns_every_binary_value_into_bytes_and_every_time_into_a_datetime():
    ours = wire.parse_get_records((FIXTURES / "get_records_donations_new_and_old_images.json").read_bytes())
    images = [r["dynamodb"].get("NewImage") or {} for r in ours["Records"]]
    binaries = [v["B"] for image in images for v in image.values() if "B" in v]
    assert binaries and all(isinstance(b, bytes) for b in binaries)
    assert all(r["dynamodb"]["ApproximateCreationDateTime"].tzinfo is not None for r in ours["Records"])


def random_value(rng: random.Random, depth: int = 0) -> dict:
    kinds = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS"] + (["M", "L"] if depth < 3 else [])
    kind = rng.choice(kinds)
    blob = lambda: base64.b64encode(rng.randbytes(rng.randint(0, 9))).decode()  # noqa: E731
    return {
        "S": lambda: {"S": rng.choice(["", "Ada", "é😀", '"B":{}'])},
        "N": lambda: {"N": rng.choice(["0", "-1.5", "12345678901234567890123456789012345678", "1E+5"])},
        "B": lambda: {"B": blob()},
        "BOOL": lambda: {"BOOL": rng.random() < 0.5},
        "NULL": lambda: {"NULL": True},
        "SS": lambda: {"SS": ["a", "b"]},
        "NS": lambda: {"NS": ["1", "2.5"]},
        "BS": lambda: {"BS": [blob(), blob()]},
        "M": lambda: {"M": {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randint(0, 3))}},
        "L": lambda: {"L": [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]},
    }[kind]()


def random_body(seed: int) -> bytes:
    rng = random.Random(seed)
    records = []
    for n in range(50):
        image = {f"a{i}": random_value(rng) for i in range(rng.randint(1, 5))}
        stream = {
            "Keys": {"id": {"S": f"d{n}"}},
            "SequenceNumber": str(rng.randint(10**20, 10**40 - 1)),
            "SizeBytes": rng.randint(1, 400),
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "NewImage": image,
            "OldImage": image,
        }
        if rng.random() < 0.8:
            stream["ApproximateCreationDateTime"] = rng.choice([1764547200, 1764547200.5, 1.46480646e9])
        records.append(
            {
                "eventID": str(n),
                "eventName": rng.choice(["INSERT", "MODIFY", "REMOVE"]),
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "eu-west-1",
                "dynamodb": stream,
            }
        )
    return json.dumps({"Records": records, "NextShardIterator": "it-2"}).encode()


@pytest.mark.parametrize("seed", range(20))
def test_it_gives_what_botocore_gives_for_random_attribute_values(seed, tmp_path):
    body = random_body(seed)
    (tmp_path / "get_records_random.json").write_bytes(body)
    from tests import stream_fixtures

    parser, shape = stream_fixtures._parser(), stream_fixtures._get_records_model().output_shape
    botocores = parser.parse({"status_code": 200, "headers": {}, "body": body}, shape)
    assert wire.parse_get_records(body) == without_metadata(botocores)


def client_answering(status: int, body: bytes, *, fast: bool):
    client = boto3.client("dynamodbstreams", region_name="eu-west-1", config=BOTO_CONFIG)
    if fast:
        wire.install(client.meta.events)

    def answer(request, **_):
        return AWSResponse(request.url, status, {"x-amzn-requestid": "r1"}, _Raw(body))

    client.meta.events.register("before-send", answer)
    return client


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


@pytest.mark.parametrize("name", GET_RECORDS_FIXTURES)
def test_a_boto3_client_returns_the_same_records_with_the_fast_parser(name, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    body = (FIXTURES / name).read_bytes()
    fast = client_answering(200, body, fast=True).get_records(ShardIterator="it")
    slow = client_answering(200, body, fast=False).get_records(ShardIterator="it")
    assert without_metadata(fast) == without_metadata(slow)
    assert fast["ResponseMetadata"]["RequestId"] == slow["ResponseMetadata"]["RequestId"] == "r1"


def test_errors_are_still_botocores(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    error = json.dumps({"__type": "com.amazonaws#ExpiredIteratorException", "message": "expired"}).encode()
    with pytest.raises(ClientError) as raised:
        client_answering(400, error, fast=True).get_records(ShardIterator="it")
    assert raised.value.response["Error"]["Code"] == "ExpiredIteratorException"


def test_a_body_that_is_not_a_get_records_response_is_left_to_botocore(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    for body in (b"<html>oops</html>", b"[1, 2]", b'{"Records": [1]}', b'{"Records": "x"}'):
        fast = outcome(client_answering(200, body, fast=True))
        slow = outcome(client_answering(200, body, fast=False))
        assert fast == slow, body


def outcome(client) -> object:
    try:
        return without_metadata(client.get_records(ShardIterator="it"))
    except Exception as exc:  # noqa: BLE001 - the same failure either way
        return type(exc)


def test_the_workers_streams_client_parses_get_records_on_the_fast_path(monkeypatch):
    from ingest.streams import boto_clients

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    calls = []
    parse = wire.parse_get_records
    monkeypatch.setattr(wire, "parse_get_records", lambda body: calls.append(body) or parse(body))
    _, streams = boto_clients(region="eu-west-1", endpoint_url=None)
    body = (FIXTURES / "get_records_donations_new_image.json").read_bytes()
    streams.meta.events.register(
        "before-send", lambda request, **_: AWSResponse(request.url, 200, {}, _Raw(body))
    )
    records = streams.get_records(ShardIterator="it")["Records"]
    assert calls == [body]
    assert records == boto3_get_records("get_records_donations_new_image.json")["Records"]
