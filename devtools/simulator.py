"""A donation simulator: writes realistic donations to a DynamoDB table, as a donation platform would.

New gifts on several platforms (PutItem), corrections of amount and/or platform (UpdateItem, a
MODIFY in the stream), refunds (DeleteItem, a REMOVE) and, rarely, a malformed record (amount
"ten", or no amount) that the worker must set aside. Plain boto3, no Django, so it can be pointed at
any table:

    python -m devtools.simulator --table Donations --endpoint-url http://127.0.0.1:8001
    python -m devtools.simulator --table Donations --region eu-west-1   # a real AWS table

Items look like the seed example, plus an id (the table's hash key) and a display name:
    {"id": "…", "email": "a@test.com", "name": "Ada L.", "donatedAt": "2019-08-07T07:26:56",
     "platform": "Facebook", "amount": 10}
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
import sys
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

PLATFORMS = {
    "Facebook": 30,
    "Website": 28,
    "Text-to-give": 18,
    "Phone bank": 14,
    "Instagram": 6,
    "Event check-in": 4,
}
GIFT_AMOUNTS = {
    5: 8,
    10: 14,
    18: 4,
    20: 12,
    25: 14,
    36: 3,
    50: 12,
    75: 4,
    100: 10,
    150: 3,
    250: 4,
    500: 2,
    1000: 1,
}
FIRST_NAMES = [
    "Ada",
    "Ben",
    "Chloé",
    "Dev",
    "Elena",
    "Femi",
    "Grace",
    "Hiro",
    "Ines",
    "Jamal",
    "Kai",
    "Lena",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sam",
    "Tomás",
    "Uma",
    "Viktor",
    "Wen",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Alvarez",
    "Brown",
    "Chen",
    "Dubois",
    "Eze",
    "Fischer",
    "García",
    "Haddad",
    "Ivanova",
    "Johnson",
    "Kowalski",
    "Lee",
    "Murphy",
    "Nguyen",
    "Okafor",
    "Patel",
    "Rossi",
    "Silva",
    "Tanaka",
    "Walsh",
]

# What one step does, by weight. Corrections and refunds need a donation to act on.
ACTIONS = {"donation": 85.5, "correction": 8, "refund": 4, "malformed": 2, "fix": 0.5}
REPEAT_DONOR_SHARE = 0.35
RECENT_KEPT = 300


class Donor(NamedTuple):
    name: str
    email: str


class Write(NamedTuple):
    kind: str  # donation, correction, refund, malformed, fix
    item_id: str
    text: str


@dataclass
class Simulator:
    """Chooses and performs one write at a time; remembers recent donations to correct or refund."""

    table: Any  # a boto3 Table resource
    rng: random.Random = field(default_factory=random.Random)
    counts: Counter = field(default_factory=Counter)
    recent: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> item, oldest first
    to_fix: dict[str, dict[str, Any]] = field(default_factory=dict)  # malformed items
    donors: list[Donor] = field(default_factory=list)

    def step(self, kind: str = "") -> Write | None:
        """Perform one write (of the given kind, or a random one); None if it turned out moot."""
        kind = kind or self.rng.choices(list(ACTIONS), weights=list(ACTIONS.values()))[0]
        if kind in ("correction", "refund") and not self.recent:
            kind = "donation"
        if kind == "fix" and not self.to_fix:
            kind = "donation"
        try:
            write = getattr(self, kind)()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return None  # the item was deleted meanwhile (another writer): nothing to do
        if write is not None:
            self.counts[write.kind] += 1
        return write

    # --- the writes ---------------------------------------------------------------------------
    def donation(self) -> Write:
        donor = self.pick_donor()
        item = {**self.new_item(donor), "amount": self.pick_amount()}
        self.table.put_item(Item=item)
        self.remember(item)
        return Write("donation", item["id"], f"+ {item['amount']:>8} {item['platform']:<14} {donor.name}")

    def correction(self) -> Write:
        item_id = self.rng.choice(list(self.recent)[-50:])
        item = self.recent[item_id]
        new = dict(item)
        change = self.rng.choice(["amount", "platform", "both"])
        if change in ("amount", "both"):
            new["amount"] = self.pick_amount(other_than=item["amount"])
        if change in ("platform", "both"):
            new["platform"] = self.pick_platform(other_than=item["platform"])
        self.update(item_id, amount=new["amount"], platform=new["platform"])
        self.recent[item_id] = new
        return Write(
            "correction",
            item_id,
            f"~ {item['amount']:>8} {item['platform']:<14} -> "
            f"{new['amount']} {new['platform']} ({item['name']})",
        )

    def refund(self) -> Write:
        item_id = self.rng.choice(list(self.recent))
        item = self.recent.pop(item_id)
        self.table.delete_item(
            Key={"id": item_id},
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#id": "id"},
        )
        return Write(
            "refund", item_id, f"- {item['amount']:>8} {item['platform']:<14} refunded ({item['name']})"
        )

    def malformed(self) -> Write:
        donor = self.pick_donor()
        item = self.new_item(donor)
        if self.rng.random() < 0.7:
            item["amount"] = "ten"  # typed into a free-text field
        self.table.put_item(Item=item)
        self.to_fix[item["id"]] = item
        amount = repr(item["amount"]) if "amount" in item else "missing"
        return Write("malformed", item["id"], f"! amount {amount} {item['platform']} ({donor.name})")

    def fix(self) -> Write:
        item_id, item = self.to_fix.popitem()
        amount = Decimal(10)
        self.update(item_id, amount=amount)
        fixed = {**item, "amount": amount}
        self.remember(fixed)
        return Write("fix", item_id, f"~ amount fixed to {amount} {item['platform']} ({item['name']})")

    def update(self, item_id: str, **values: Any) -> None:
        """UpdateItem: SET these attributes of an existing item (never create one by updating it)."""
        self.table.update_item(
            Key={"id": item_id},
            UpdateExpression="SET " + ", ".join(f"#{name} = :{name}" for name in values),
            ConditionExpression="attribute_exists(#id)",
            ExpressionAttributeNames={"#id": "id", **{f"#{name}": name for name in values}},
            ExpressionAttributeValues={f":{name}": value for name, value in values.items()},
        )

    # --- realistic values ---------------------------------------------------------------------
    def new_item(self, donor: Donor) -> dict[str, Any]:
        """A new gift of this donor's, on a platform, without its amount."""
        return {
            "id": str(uuid.uuid4()),
            "email": donor.email,
            "name": donor.name,
            "donatedAt": now_iso(),
            "platform": self.pick_platform(),
        }

    def pick_donor(self) -> Donor:
        if self.donors and self.rng.random() < REPEAT_DONOR_SHARE:
            return self.rng.choice(self.donors)
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        number = self.rng.randint(1, 999)
        email = f"{ascii_name(first)}.{ascii_name(last)}{number}@example.org"
        donor = Donor(f"{first} {last[0]}.", email)
        self.donors.append(donor)
        return donor

    def pick_platform(self, other_than: str = "") -> str:
        names = [p for p in PLATFORMS if p != other_than]
        return self.rng.choices(names, weights=[PLATFORMS[p] for p in names])[0]

    def pick_amount(self, other_than: Decimal | None = None) -> Decimal:
        while True:
            if self.rng.random() < 0.15:  # an odd amount, with cents
                amount = Decimal(self.rng.randint(300, 20000)).scaleb(-2)
            else:
                whole = self.rng.choices(list(GIFT_AMOUNTS), weights=list(GIFT_AMOUNTS.values()))[0]
                amount = Decimal(whole).quantize(Decimal("0.01"))
            if amount != other_than:
                return amount

    def remember(self, item: dict[str, Any]) -> None:
        self.recent[item["id"]] = item
        while len(self.recent) > RECENT_KEPT:
            self.recent.pop(next(iter(self.recent)))


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def ascii_name(name: str) -> str:
    return name.lower().translate(str.maketrans("áéíóú", "aeiou"))


def dynamodb_resource(*, region: str, endpoint_url: str | None = None) -> Any:
    # Short timeouts: a stuck write must not hold up Ctrl-C for long; run() retries.
    config = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 3, "mode": "standard"})
    kwargs: dict[str, Any] = {"region_name": region, "config": config}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    return boto3.resource("dynamodb", **kwargs)


def ensure_table(dynamodb: Any, name: str) -> bool:
    """Create the donations table with a NEW_AND_OLD_IMAGES stream if missing; True if created.

    An existing table without a stream gets one; a stream of another view type is left alone
    (the worker reports it in the admin).
    """
    client = dynamodb.meta.client
    try:
        spec = client.describe_table(TableName=name)["Table"].get("StreamSpecification") or {}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        return True
    if not spec.get("StreamEnabled"):
        client.update_table(
            TableName=name,
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    return False


def run(
    simulator: Simulator,
    *,
    rate: float,
    stop: threading.Event,
    burst: int = 0,
    limit: int | None = None,
    on_write: Callable[[Write], None] = lambda write: None,
) -> None:
    """Write `burst` donations at once, then about `rate` writes a second until stopped."""
    written = 0
    failures = 0
    while not stop.is_set() and (limit is None or written < limit):
        try:
            write = simulator.step("donation" if written < burst else "")
        except (ClientError, BotoCoreError) as exc:
            # Throttling, a network blip, the local endpoint going away: wait and carry on.
            failures += 1
            log.warning("write failed (%s); retrying", exc)
            stop.wait(min(5.0, 0.2 * 2**failures))
            continue
        failures = 0
        written += 1
        if write is not None:
            on_write(write)
        if written >= burst:
            stop.wait(min(5 / rate, simulator.rng.expovariate(rate)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.simulator", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--table", default=os.environ.get("DEMO_TABLE", "Donations"))
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("DYNAMODB_ENDPOINT_URL", ""),
        help="a local DynamoDB (moto, DynamoDB Local); empty for AWS",
    )
    parser.add_argument("--rate", type=float, default=2.0, help="writes per second on average")
    parser.add_argument("--burst", type=int, default=0, help="donations written at once first")
    parser.add_argument("--count", type=int, default=None, help="stop after this many writes")
    parser.add_argument("--seed", type=int, default=None, help="repeatable choices")
    parser.add_argument(
        "--create-table",
        action="store_true",
        help="create the table (hash key 'id', stream NEW_AND_OLD_IMAGES) if missing",
    )
    parser.add_argument("--quiet", action="store_true", help="print only a summary at the end")
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be positive")

    dynamodb = dynamodb_resource(region=args.region, endpoint_url=args.endpoint_url or None)
    if args.create_table and ensure_table(dynamodb, args.table):
        print(f"created table {args.table} with a NEW_AND_OLD_IMAGES stream", flush=True)
    simulator = Simulator(dynamodb.Table(args.table), rng=random.Random(args.seed))
    where = args.endpoint_url or f"AWS {args.region}"
    print(f"writing simulated donations to {args.table} ({where}); Ctrl-C stops", flush=True)
    stop = threading.Event()
    on_write = (lambda write: None) if args.quiet else (lambda write: print(write.text, flush=True))
    try:
        run(simulator, rate=args.rate, stop=stop, burst=args.burst, limit=args.count, on_write=on_write)
    except KeyboardInterrupt:
        pass
    print("wrote " + ", ".join(f"{n} {kind}" for kind, n in sorted(simulator.counts.items())), flush=True)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    sys.exit(main())
