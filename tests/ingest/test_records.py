"""Decoding stream records exactly as AWS sends them: boto3 GetRecords responses and Lambda events."""

from __future__ import annotations

import base64
from decimal import Decimal

import boto3
import pytest

from ingest.records import (
    INSERT,
    MODIFY,
    REMOVE,
    RecordError,
    decode_record,
    item_key_digest,
    lookup,
    number_text,
    parse_number,
    sequence_key,
)
from tests.stream_fixtures import VIEW_TYPES, boto3_get_records, donations, lambda_event

SHAPES = ("boto3", "lambda")
# The donation fixtures: INSERT d1, MODIFY d1, INSERT d2, REMOVE d1 (user), REMOVE d2 (TTL).
EVENTS = (INSERT, MODIFY, INSERT, REMOVE, REMOVE)
# Which records can be used under each view type: INSERT and MODIFY need the NewImage.
USABLE = {
    "KEYS_ONLY": (False, False, False, True, True),
    "NEW_IMAGE": (True, True, True, True, True),
    "OLD_IMAGE": (False, False, False, True, True),
    "NEW_AND_OLD_IMAGES": (True, True, True, True, True),
}

DONATION_1 = {
    "id": "donation-0001",
    "email": "a@test.com",
    "donatedAt": "2019-08-07T07:26:56",
    "platform": "Facebook",
    "amount": Decimal("10"),
    "payment": {"amount": Decimal("10"), "method": "card", "card": {"brand": "visa", "last4": "4242"}},
    "giftAid": False,
    "campaignCode": None,
    "tags": frozenset({"gala", "first-gift"}),
    "matchRatios": frozenset({Decimal("1"), Decimal("0.5")}),
    "receipt": b"%PDF-1.4\n\x00\xff",
    "thumbprints": frozenset({b"\x01\x02", b"\xfe"}),
    "lines": [{"sku": "ticket", "qty": Decimal("2")}, "note"],
    "donorRef": Decimal("12345678901234567890123456789012345678"),
    "fee": Decimal("0.12345678901234567890123456789012345678"),
}


def decode_all(records):
    """Each record decoded, or the RecordError's message."""
    out = []
    for record in records:
        try:
            out.append(decode_record(record))
        except RecordError as exc:
            out.append(str(exc))
    return out


def assert_exactly(actual, expected):
    """Equal, and of the same types all the way down (Decimal("10") == 10.0 would hide a float)."""
    assert actual == expected
    assert type(actual) is type(expected)
    if isinstance(expected, dict):
        for name in expected:
            assert_exactly(actual[name], expected[name])
    elif isinstance(expected, list):
        for a, e in zip(actual, expected, strict=True):
            assert_exactly(a, e)
    elif isinstance(expected, frozenset):
        assert {type(v) for v in actual} == {type(v) for v in expected}


# --- the AWS documentation examples -----------------------------------------------------------


def test_it_decodes_the_get_records_example_of_the_api_reference():
    records = boto3_get_records("get_records_api_reference.json")["Records"]
    insert, modify, remove = decode_all(records)
    # A KEYS_ONLY stream says what changed but not how: INSERT and MODIFY are set aside, loudly.
    for rejected in (insert, modify):
        assert "stream view type KEYS_ONLY" in rejected
        assert "enable NEW_IMAGE or NEW_AND_OLD_IMAGES" in rejected
    assert remove.event_name == REMOVE
    assert remove.keys == {"ForumName": "DynamoDB", "Subject": "DynamoDB Thread 2"}
    assert remove.new_image is None and remove.old_image is None
    assert remove.created_at == 1464806460.0
    assert remove.sequence == "500000000000000499661".rjust(40, "0")
    assert not remove.is_ttl_delete


def test_it_decodes_the_lambda_example_of_the_developer_guide():
    insert, modify, remove = decode_all(lambda_event("lambda_docs_example.json")["Records"])
    assert [c.event_name for c in (insert, modify, remove)] == [INSERT, MODIFY, REMOVE]
    assert_exactly(insert.keys, {"Id": Decimal("101")})
    assert_exactly(insert.new_image, {"Message": "New item!", "Id": Decimal("101")})
    assert insert.old_image is None
    assert modify.old_image == {"Message": "New item!", "Id": Decimal("101")}
    assert modify.new_image == {"Message": "This item has changed", "Id": Decimal("101")}
    assert remove.new_image is None
    assert remove.old_image == {"Message": "This item has changed", "Id": Decimal("101")}
    assert insert.item_key == modify.item_key == remove.item_key
    # This example has no ApproximateCreationDateTime and 3-digit sequence numbers.
    assert insert.created_at is None
    assert insert.sequence < modify.sequence < remove.sequence


def test_it_decodes_the_sam_sample_event_and_takes_its_time_as_epoch_seconds():
    insert, modify, remove = decode_all(lambda_event("lambda_sam_example.json")["Records"])
    assert insert.created_at == modify.created_at == remove.created_at == 1428537600.0
    assert insert.sequence == "4421584500000000017450439091".rjust(40, "0")
    assert remove.old_image == {"Message": "This item has changed", "Id": Decimal("101")}


def test_it_flags_only_removals_by_time_to_live_as_ttl_deletes():
    # The SAM sample puts the TTL identity on an INSERT; only a REMOVE can be a TTL deletion.
    sam_insert = lambda_event("lambda_sam_example.json")["Records"][0]
    assert sam_insert["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"
    assert not decode_record(sam_insert).is_ttl_delete
    for shape in SHAPES:
        *_, user_remove, ttl_remove = decode_all(donations(shape, "NEW_AND_OLD_IMAGES"))
        assert ttl_remove.is_ttl_delete
        assert not user_remove.is_ttl_delete
        assert ttl_remove.new_image is None


@pytest.mark.parametrize(
    "identity",
    [
        {"type": "Service", "principalId": "dynamodb.amazonaws.com"},  # Lambda events
        {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"},  # GetRecords, as boto3 returns it
    ],
)
def test_it_recognises_the_ttl_identity_in_either_spelling(identity):
    record = {
        "eventName": REMOVE,
        "userIdentity": identity,
        "dynamodb": {"Keys": {"id": {"S": "d-1"}}, "SequenceNumber": "1" * 21},
    }
    assert decode_record(record).is_ttl_delete
    someone_else = {name: "iam-user" for name in identity}
    assert not decode_record({**record, "userIdentity": someone_else}).is_ttl_delete


# --- every event type under every stream view type, in both shapes -------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_it_decodes_every_event_type_as_far_as_the_view_type_allows(shape, view_type):
    records = donations(shape, view_type)
    assert [r["eventName"] for r in records] == list(EVENTS)
    assert {r["dynamodb"]["StreamViewType"] for r in records} == {view_type}
    for record, decoded, usable in zip(records, decode_all(records), USABLE[view_type], strict=True):
        if not usable:
            assert decoded == (
                f"{record['eventName']} record carries no NewImage (stream view type "
                f"{view_type}); enable NEW_IMAGE or NEW_AND_OLD_IMAGES on the table's stream"
            )
            continue
        assert decoded.event_name == record["eventName"]
        assert decoded.keys == {"id": record["dynamodb"]["Keys"]["id"]["S"]}
        if decoded.event_name == REMOVE:
            assert decoded.new_image is None
        else:
            assert decoded.new_image["id"] == decoded.keys["id"]
        has_old = "OldImage" in record["dynamodb"]
        assert (decoded.old_image is not None) == has_old


@pytest.mark.parametrize("view_type", VIEW_TYPES)
def test_boto3_responses_and_lambda_events_decode_to_the_same_changes(view_type):
    from_boto3 = decode_all(donations("boto3", view_type))
    from_lambda = decode_all(donations("lambda", view_type))
    assert from_boto3 == from_lambda
    assert [c.created_at for c in from_boto3 if not isinstance(c, str)]  # times were compared too


def test_the_boto3_shape_really_has_datetimes_and_bytes():
    record = donations("boto3", "NEW_AND_OLD_IMAGES")[0]["dynamodb"]
    assert record["ApproximateCreationDateTime"].timestamp() == 1565162816
    assert record["NewImage"]["receipt"] == {"B": b"%PDF-1.4\n\x00\xff"}
    lambda_record = donations("lambda", "NEW_AND_OLD_IMAGES")[0]["dynamodb"]
    assert lambda_record["ApproximateCreationDateTime"] == 1565162816
    assert lambda_record["NewImage"]["receipt"] == {"B": base64.b64encode(b"%PDF-1.4\n\x00\xff").decode()}


@pytest.mark.parametrize("shape", SHAPES)
def test_it_decodes_every_attribute_value_type(shape):
    insert = decode_record(donations(shape, "NEW_AND_OLD_IMAGES")[0])
    assert_exactly(insert.new_image, DONATION_1)


@pytest.mark.parametrize("shape", SHAPES)
def test_it_keeps_numbers_of_38_significant_digits_exact(shape):
    image = decode_record(donations(shape, "NEW_IMAGE")[0]).new_image
    assert str(image["donorRef"]) == "12345678901234567890123456789012345678"
    assert str(image["fee"]) == "0.12345678901234567890123456789012345678"
    assert len(image["donorRef"].as_tuple().digits) == len(image["fee"].as_tuple().digits) == 38
    d2 = decode_record(donations(shape, "NEW_IMAGE")[2]).new_image
    assert_exactly(d2["amount"], Decimal("1234567890123.45"))


@pytest.mark.parametrize("shape", SHAPES)
def test_it_orders_sequence_numbers_of_different_lengths_numerically(shape):
    records = donations(shape, "NEW_AND_OLD_IMAGES")
    raw = [r["dynamodb"]["SequenceNumber"] for r in records]
    assert sorted(raw) != raw  # as text, "999…" (21 digits) would sort after "100…" (22 digits)
    assert {len(s) for s in raw} == {21, 22, 28, 40}
    changes = decode_all(records)
    assert sorted(changes, key=lambda c: c.sequence) == changes
    assert [int(c.sequence) for c in changes] == [int(s) for s in raw]


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        ("1" + "0" * 21, "9" * 21),
        ("1" + "0" * 39, "9" * 39),
        ("300000000000000499660", "300000000000000499659"),
    ],
)
def test_a_newer_sequence_number_always_sorts_after_an_older_one(newer, older):
    assert sequence_key(newer) > sequence_key(older)


# --- numbers, keys and paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10", Decimal("10")),
        (" 10.50 ", Decimal("10.50")),
        ("-0.01", Decimal("-0.01")),
        ("1E+2", Decimal("1E+2")),
        (".5", Decimal("0.5")),
        (
            "9.9999999999999999999999999999999999999E+125",
            Decimal("9.9999999999999999999999999999999999999E+125"),
        ),
        ("-1E-130", Decimal("-1E-130")),
    ],
)
def test_it_parses_numbers_exactly(text, expected):
    number = parse_number(text)
    assert isinstance(number, Decimal)
    assert number == expected and str(number) == str(expected)


@pytest.mark.parametrize(
    "text",
    [
        "ten",
        "",
        " ",
        "1,000",
        "1_000",
        "NaN",
        "Infinity",
        "-inf",
        "10 50",
        "\u0661\u0660",
        "0x10",
        "1e99999",
        "10$",
    ],
)
def test_it_rejects_text_that_is_not_a_number(text):
    with pytest.raises(RecordError, match="is not a number"):
        parse_number(text)


@pytest.mark.parametrize(
    ("number", "text"),
    [
        ("100", "100"),
        ("1E+2", "100"),
        ("100.000", "100"),
        ("0.500", "0.5"),
        ("-0", "0"),
        ("0E-7", "0"),
        ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
        ("1.2345678901234567890123456789012345670", "1.234567890123456789012345678901234567"),
    ],
)
def test_it_writes_numbers_as_short_exact_text(number, text):
    assert number_text(Decimal(number)) == text


def test_equal_numeric_keys_name_the_same_item():
    assert item_key_digest({"id": Decimal("100")}) == item_key_digest({"id": Decimal("1E+2")})
    assert item_key_digest({"id": Decimal("100")}) == item_key_digest({"id": Decimal("100.0")})
    assert item_key_digest({"id": Decimal("100")}) != item_key_digest({"id": "100"})


def test_numeric_keys_of_38_digits_that_differ_in_the_last_digit_name_different_items():
    a = Decimal("12345678901234567890123456789012345678")
    assert item_key_digest({"id": a}) != item_key_digest({"id": a + 1})


def test_binary_keys_name_the_same_item_in_both_shapes():
    lam = {
        "eventName": REMOVE,
        "dynamodb": {"Keys": {"pk": {"B": "AP8="}, "sk": {"N": "7"}}, "SequenceNumber": "1" * 21},
    }
    boto = {
        "eventName": REMOVE,
        "dynamodb": {"Keys": {"pk": {"B": b"\x00\xff"}, "sk": {"N": "7"}}, "SequenceNumber": "1" * 21},
    }
    assert decode_record(lam).item_key == decode_record(boto).item_key
    assert decode_record(lam).keys == {"pk": b"\x00\xff", "sk": Decimal(7)}


def test_it_follows_nested_paths_and_reports_missing_steps():
    image = decode_record(donations("lambda", "NEW_IMAGE")[0]).new_image
    assert lookup(image, ("payment", "amount")) == Decimal("10")
    assert lookup(image, ("payment", "card", "last4")) == "4242"
    for missing in [("payment", "currency"), ("nope",), ("platform", "name"), ("payment", "card", "x")]:
        with pytest.raises(KeyError):
            lookup(image, missing)


def test_an_item_missing_attributes_still_decodes():
    record = {
        "eventName": INSERT,
        "dynamodb": {
            "Keys": {"id": {"S": "d-9"}},
            "NewImage": {"id": {"S": "d-9"}},
            "SequenceNumber": "1" * 21,
            "StreamViewType": "NEW_IMAGE",
        },
    }
    assert decode_record(record).new_image == {"id": "d-9"}  # what is missing is for the metrics to judge


# --- records that cannot be used ----------------------------------------------------------------


def insert_with(**dynamodb):
    body = {"Keys": {"id": {"S": "d-1"}}, "NewImage": {"id": {"S": "d-1"}}, "SequenceNumber": "1" * 21}
    body.update(dynamodb)
    return {"eventName": INSERT, "dynamodb": body}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"eventName": "UPSERT", "dynamodb": {}}, "unknown eventName 'UPSERT'"),
        ({"eventName": INSERT}, "record has no 'dynamodb' section"),
        (insert_with(Keys={}), "record has no Keys"),
        (insert_with(SequenceNumber=""), "sequence number '' is not a string of digits"),
        (insert_with(SequenceNumber="12a"), "is not a string of digits"),
        (insert_with(SequenceNumber="\u00b2" * 21), "is not a string of digits"),
        (insert_with(SequenceNumber="1" * 41), "has more than 40 digits"),
        (insert_with(NewImage={"x": {"X": "1"}}), "unknown AttributeValue type 'X'"),
        (insert_with(NewImage={"x": {"S": "a", "N": "1"}}), "not an AttributeValue"),
        (insert_with(NewImage={"x": {"N": "ten"}}), "'ten' is not a number"),
        (insert_with(NewImage={"x": {"B": "not base64!"}}), "is not base64"),
        (insert_with(NewImage={"x": {"M": "not a map"}}), "malformed stream record"),
        (insert_with(NewImage={"x": {"L": 7}}), "malformed stream record"),
        (insert_with(NewImage=["not", "a", "map"]), "malformed stream record"),
        (insert_with(ApproximateCreationDateTime="yesterday"), "malformed stream record"),
        ("not a record", "malformed stream record"),
    ],
)
def test_it_rejects_an_unusable_record_with_a_reason_and_nothing_else(record, reason):
    # Only RecordError: the consumer sets those aside; any other exception would stall the shard.
    with pytest.raises(RecordError) as caught:
        decode_record(record)
    assert reason in str(caught.value)


# --- a real GetRecords response (moto server) -------------------------------------------------


def test_it_decodes_a_get_records_response_from_moto(moto):
    dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=moto.url)
    streams = boto3.client("dynamodbstreams", region_name="us-east-1", endpoint_url=moto.url)
    dynamodb.create_table(
        TableName="Donations",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    # The same item as the fixtures, in the low-level shape boto3 sends (B values as bytes).
    raw_item = boto3_get_records("get_records_donations_new_image.json")["Records"][0]["dynamodb"]["NewImage"]
    dynamodb.put_item(TableName="Donations", Item=raw_item)
    dynamodb.update_item(
        TableName="Donations",
        Key={"id": {"S": "donation-0001"}},
        UpdateExpression="SET amount = :a",
        ExpressionAttributeValues={":a": {"N": "25.50"}},
    )
    dynamodb.delete_item(TableName="Donations", Key={"id": {"S": "donation-0001"}})
    arn = dynamodb.describe_table(TableName="Donations")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records = streams.get_records(ShardIterator=iterator)["Records"]

    insert, modify, remove = decode_all(records)
    assert [c.event_name for c in (insert, modify, remove)] == [INSERT, MODIFY, REMOVE]
    assert_exactly(insert.new_image, DONATION_1)
    assert modify.old_image == DONATION_1
    assert_exactly(modify.new_image["amount"], Decimal("25.50"))
    assert remove.new_image is None and remove.old_image == modify.new_image
    assert insert.item_key == modify.item_key == remove.item_key
    assert insert.sequence < modify.sequence < remove.sequence
    # (moto keeps milliseconds in ApproximateCreationDateTime; AWS rounds down to the second.)
    assert all(isinstance(c.created_at, float) for c in (insert, modify, remove))
