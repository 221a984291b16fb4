"""The worker's side of the write -> SSE figure, in its own process: `rate` writes a second, each
published as the consumer does after a batch (ServerSentEvents.publish of a MetricsChanged: the
changed metrics' absolute values, through django-eventstream's send_event to Redis pub/sub).

Writes a JSON list of [metric, version, published_at] to `out` when done.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(slug: str, rate: float, seconds: float, out: str) -> None:
    import django

    django.setup()
    from dashboard.events import ServerSentEvents
    from fundraiser.models import Campaign
    from fundraiser.selectors import campaign_config
    from ingest.ports import MetricsChanged
    from ingest.store import MetricValues

    config = campaign_config(Campaign.objects.get(slug=slug))
    publisher = ServerSentEvents()
    platforms = ["web", "ios", "android", "phone", "event"]
    raised = dict.fromkeys(platforms, 0)
    gifts = dict.fromkeys(platforms, 0)
    donors = 0
    log = []
    started = time.monotonic()
    version = 0
    rng = random.Random(13)
    while (elapsed := time.monotonic() - started) < seconds:
        version += 1
        platform = rng.choice(platforms)
        raised[platform] += rng.randint(500, 25000)
        gifts[platform] += 1
        changed = {
            "raised": MetricValues(sum(raised.values()), dict(raised)),
            "gifts": MetricValues(sum(gifts.values()), dict(gifts)),
        }
        if rng.random() < 0.7:  # a new donor
            donors += 1
            changed["donors"] = MetricValues(donors, {})
        now = time.time()
        publisher.publish(MetricsChanged(config, version, "bench", changed))
        log += [[slug_, version, now] for slug_ in changed]
        time.sleep(max(0.0, version / rate - (time.monotonic() - started)))
    del elapsed
    Path(out).write_text(json.dumps(log))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
