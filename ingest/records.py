"""Decode DynamoDB Streams records, as boto3 GetRecords or a Lambda event delivers them.

Pure Python: no boto3, Redis or Django here. Numbers stay Decimal; nothing becomes a float.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import Any

INSERT, MODIFY, REMOVE = "INSERT", "MODIFY", "REMOVE"
SEQUENCE_WIDTH = 40  # DynamoDB sequence numbers have 21 to 40 digits
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
# A number as DynamoDB writes one (exponents there stay within -130..125). Decimal() alone would
# also take "1_000", "NaN", "Infinity", non-ASCII digits and exponents it cannot represent.
NUMBER_SYNTAX = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?", re.ASCII)
DIGITS = re.compile(r"\d+", re.ASCII)
# json.dumps builds a new encoder per call when given separators; one shared encoder, same text.
_KEY_JSON = json.JSONEncoder(separators=(",", ":"))


class RecordError(ValueError):
    """A record (or attribute value) that cannot be used, with a reason for organizers."""


@dataclass(frozen=True)
class Change:
    """One stream record, decoded: the item's new state (None when it was removed)."""

    event_name: str
    sequence: str  # zero-padded to SEQUENCE_WIDTH, so string order is numeric order
    item_key: str  # stable digest of the primary key
    keys: dict[str, Any]
    new_image: dict[str, Any] | None
    # As the record carries it (bytes or base64 text: boto3 and Lambda differ), decoded only if
    # asked for; changes compare by what it decodes to.
    raw_old_image: dict[str, Any] | None = field(compare=False)
    created_at: float | None  # ApproximateCreationDateTime as epoch seconds
    is_ttl_delete: bool = False

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Change):
            return NotImplemented
        same = (self.event_name, self.sequence, self.item_key, self.keys, self.new_image, self.created_at)
        theirs = (
            other.event_name,
            other.sequence,
            other.item_key,
            other.keys,
            other.new_image,
            other.created_at,
        )
        return (
            same == theirs and self.is_ttl_delete == other.is_ttl_delete and self.old_image == other.old_image
        )

    __hash__ = None  # type: ignore[assignment]  # (images are dicts: never hashable)

    @cached_property
    def old_image(self) -> dict[str, Any] | None:
        """The item before the change, if the stream carries it (and None if it cannot be read:
        nothing is counted from it, only the ticker looks at it)."""
        try:
            return decode_image(self.raw_old_image)
        except (RecordError, AttributeError, TypeError, ValueError):
            return None


def sequence_key(sequence_number: str) -> str:
    """Zero-pad a sequence number so that comparing strings compares the numbers."""
    if not isinstance(sequence_number, str) or not DIGITS.fullmatch(sequence_number):
        raise RecordError(f"sequence number {sequence_number!r} is not a string of digits")
    if len(sequence_number) > SEQUENCE_WIDTH:
        raise RecordError(f"sequence number {sequence_number} has more than {SEQUENCE_WIDTH} digits")
    return sequence_number.rjust(SEQUENCE_WIDTH, "0")


def decode_value(value: Any) -> Any:
    """Turn one AttributeValue ({"N": "10"}, {"M": {...}}, ...) into plain Python."""
    if not isinstance(value, dict) or len(value) != 1:
        raise RecordError(f"not an AttributeValue: {value!r:.80}")
    ((tag, raw),) = value.items()
    if tag == "S":
        return raw
    if tag == "N":
        return parse_number(raw)
    if tag == "BOOL":
        return bool(raw)
    if tag == "NULL":
        return None
    if tag == "M":
        return {name: decode_value(inner) for name, inner in raw.items()}
    if tag == "L":
        return [decode_value(inner) for inner in raw]
    if tag == "SS":
        return frozenset(raw)
    if tag == "NS":
        return frozenset(parse_number(n) for n in raw)
    if tag == "B":
        return _as_bytes(raw)
    if tag == "BS":
        return frozenset(_as_bytes(b) for b in raw)
    raise RecordError(f"unknown AttributeValue type {tag!r}")


def decode_image(image: dict[str, Any] | None) -> dict[str, Any] | None:
    if image is None:
        return None
    out = {}
    for name, value in image.items():  # decode_value, with its two commonest cases inline
        if type(value) is dict and len(value) == 1:
            if "S" in value:
                out[name] = value["S"]
                continue
            if "N" in value:
                out[name] = parse_number(value["N"])
                continue
        out[name] = decode_value(value)
    return out


def parse_number(raw: Any) -> Decimal:
    """Exact Decimal of a DynamoDB number (or of a number sent as text); never a float."""
    text = raw.strip() if type(raw) is str else str(raw).strip()
    if not NUMBER_SYNTAX.fullmatch(text):
        raise RecordError(f"{raw!r:.40} is not a number")
    return Decimal(text)  # exact: constructing a Decimal never rounds


def number_text(number: Decimal) -> str:
    """Shortest exact text of a number ("1E+2" and "100.0" give "100").

    Not Decimal.normalize(): that rounds to the context's 28 digits, and DynamoDB numbers have 38.
    """
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _as_bytes(raw: Any) -> bytes:
    # boto3 hands bytes; Lambda events carry base64 text.
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise RecordError(f"binary value {raw!r:.40} is not base64") from None


def item_key_digest(keys: dict[str, Any]) -> str:
    """A short stable digest of the primary key: no donor PII is kept in Redis field names."""
    canonical = _KEY_JSON.encode({name: _canonical(value) for name, value in sorted(keys.items())})
    return hashlib.blake2b(canonical.encode(), digest_size=12).hexdigest()


def _canonical(value: Any) -> str:
    if isinstance(value, Decimal):
        return "N:" + number_text(value)
    if isinstance(value, bytes):
        return "B:" + base64.b64encode(value).decode()
    return "S:" + str(value)


def decode_record(record: dict[str, Any]) -> Change:
    """Decode one stream record (boto3 GetRecords shape or Lambda event shape).

    Raises RecordError, and only RecordError, for a record that cannot be used: the consumer sets
    such a record aside and carries on, where any other exception would stop the batch for good.
    """
    try:
        return _decode_record(record)
    except RecordError:
        raise
    except (AttributeError, TypeError, ValueError) as exc:
        raise RecordError(f"malformed stream record ({type(exc).__name__}: {exc})") from None


def _decode_record(record: dict[str, Any]) -> Change:
    event_name = record.get("eventName")
    if event_name not in (INSERT, MODIFY, REMOVE):
        raise RecordError(f"unknown eventName {event_name!r}")
    body = record.get("dynamodb")
    if not isinstance(body, dict):
        raise RecordError("record has no 'dynamodb' section")
    raw_keys = body.get("Keys")
    if not raw_keys:
        raise RecordError("record has no Keys")
    keys = decode_image(raw_keys)
    new_image = decode_image(body.get("NewImage"))
    if event_name == REMOVE:
        new_image = None
    elif new_image is None:
        view = body.get("StreamViewType", "unknown")
        raise RecordError(
            f"{event_name} record carries no NewImage (stream view type {view}); "
            "enable NEW_IMAGE or NEW_AND_OLD_IMAGES on the table's stream"
        )
    # Only Time to Live deletions carry this identity. The GetRecords API (so boto3) spells its
    # fields PrincipalId and Type; Lambda events spell them principalId and type.
    identity = {name.lower(): value for name, value in (record.get("userIdentity") or {}).items()}
    is_ttl_delete = (
        event_name == REMOVE
        and identity.get("type") == "Service"
        and identity.get("principalid") == TTL_PRINCIPAL
    )
    return Change(
        event_name=event_name,
        sequence=sequence_key(body.get("SequenceNumber", "")),
        item_key=item_key_digest(keys),
        keys=keys,
        new_image=new_image,
        raw_old_image=body.get("OldImage"),
        created_at=_epoch_seconds(body.get("ApproximateCreationDateTime")),
        is_ttl_delete=is_ttl_delete,
    )


def _epoch_seconds(value: Any) -> float | None:
    if value is None:
        return None
    if hasattr(value, "timestamp"):  # boto3 gives a datetime
        return value.timestamp()
    return float(value)  # Lambda events give epoch seconds


def lookup(item: dict[str, Any], path: tuple[str, ...]) -> Any:
    """Follow a dotted path through nested maps; raises KeyError when any step is missing."""
    value: Any = item
    for step in path:
        if not isinstance(value, dict):
            raise KeyError(step)
        value = value[step]
    return value
